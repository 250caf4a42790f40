// `--order desc`: the newest ids are queued first, and that holds for the halves of a split shard and for
// every shard a reconcile (recover) queues again, whose numbers no longer follow their ids.
import {
  type ControlContext,
  closeControl,
  openControl,
  openRunQueue,
  recoverRun,
  startRun,
} from '@backfill/control';
import { splitShard } from '@backfill/engine/ledger';
import { createLogger } from '@backfill/engine/logger';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../../test-support/db.js';
import { removeRedisKeys } from '../../../test-support/distributed.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `bft-order-${process.pid}`;
let ctx: ControlContext;

beforeAll(async () => {
  const url = await migratedDatabase('control_order');
  await seedLegacyRows(url, 3000);
  ctx = await openControl({
    databaseUrl: url,
    redisUrl: REDIS_URL,
    prefix: PREFIX,
    logger: createLogger({ level: 'silent' }),
  });
});

afterAll(async () => {
  await closeControl(ctx);
  await removeRedisKeys(PREFIX);
});

/** The shards of the run's waiting jobs in the order workers take them, with each one's first id. */
async function queuedInOrder(run: { id: number; queue: string | null }) {
  const queue = openRunQueue(run, ctx);
  try {
    const jobs = await queue.getJobs(['waiting'], 0, -1, true);
    const { rows } = await ctx.db.query(
      'SELECT shard_no, from_id::int AS from_id, status FROM backfill_shards WHERE run_id = $1',
      [run.id],
    );
    const byNo = new Map(rows.map((r) => [r.shard_no as number, r]));
    return jobs
      .map((j) => byNo.get(j.data.shardNo)!)
      .filter((s) => s.status === 'queued')
      .map((s) => ({ shardNo: s.shard_no as number, fromId: s.from_id as number }));
  } finally {
    await queue.close();
  }
}

const descendingIds = (xs: { fromId: number }[]) =>
  xs.every((x, i) => i === 0 || xs[i - 1]!.fromId > x.fromId);

describe('--order desc', () => {
  it('queues the newest shards first, also after a split and when recover queues them again', async () => {
    const started = await startRun(ctx, {
      name: 'newest',
      shardRows: 500,
      order: 'desc',
      method: 'keyset',
      analyze: false,
      settings: RUN_SETTINGS_DEFAULTS,
      commit: true,
    });
    expect(started.outcome).toBe('started');
    const run = started.run!;
    const first = await queuedInOrder(run);
    expect(first.length).toBe(6);
    expect(descendingIds(first)).toBe(true);

    // The oldest shard splits: its halves get the highest shard numbers, yet hold the lowest ids.
    const oldest = first.at(-1)!;
    const children = await splitShard(ctx.db, run.id, oldest.shardNo, 'test split');
    expect(children.length).toBe(2);
    // The queue lost (a Redis flush): recover queues every shard again from the ledger.
    const queue = openRunQueue(run, ctx);
    await queue.obliterate({ force: true });
    await queue.close();
    const { report } = await recoverRun(ctx, 'newest');
    expect(report.added.length).toBe(7);
    const again = await queuedInOrder(run);
    expect(again.map((s) => s.shardNo).sort()).toEqual(
      [...first.slice(0, -1).map((s) => s.shardNo), ...children.map((c) => c.shardNo)].sort(),
    );
    expect(descendingIds(again)).toBe(true); // the newer half before the older, both after every other
  });
});
