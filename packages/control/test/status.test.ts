// The status read model: plain JSON, and a fixed number of ledger queries whatever the number of shards.
import {
  type ControlContext,
  cancelRun,
  closeControl,
  openControl,
  pauseRun,
  readAllRunStatuses,
  readRunStatus,
  resumeRun,
  retryShards,
  startRun,
} from '@backfill/control';
import { createLogger } from '@backfill/engine/logger';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../../test-support/db.js';
import { removeRedisKeys } from '../../../test-support/distributed.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `bft-status-${process.pid}`;
const logger = createLogger({ level: 'silent' });
let ctx: ControlContext;

async function start(name: string, shardRows: number, toId?: bigint) {
  return startRun(ctx, {
    name,
    shardRows,
    ...(toId !== undefined ? { toId } : {}),
    order: 'asc',
    method: 'keyset',
    analyze: false,
    settings: RUN_SETTINGS_DEFAULTS,
    commit: true,
  });
}

/** Counts the statements `fn` sends on the control context's connection. */
async function countQueries<T>(fn: () => Promise<T>): Promise<{ result: T; queries: number }> {
  const db = ctx.db as unknown as { query: (...a: unknown[]) => unknown };
  const original = db.query;
  let queries = 0;
  db.query = (...args: unknown[]) => {
    queries++;
    return original.apply(ctx.db, args);
  };
  try {
    return { result: await fn(), queries };
  } finally {
    db.query = original;
  }
}

beforeAll(async () => {
  const url = await migratedDatabase('control_status');
  await seedLegacyRows(url, 3000);
  ctx = await openControl({ databaseUrl: url, redisUrl: REDIS_URL, prefix: PREFIX, logger });
});

afterAll(async () => {
  await closeControl(ctx);
  await removeRedisKeys(PREFIX, REDIS_URL);
});

describe('status read model', () => {
  it('reads one shard and 300 shards with the same, small number of ledger queries', async () => {
    const one = await start('one-shard', 1_000_000);
    expect(one.run?.status).toBe('running');
    const small = await countQueries(() => readRunStatus(ctx, 'one-shard'));
    expect(small.result.progress.shards.queued).toBe(1);
    await cancelRun(ctx, 'one-shard');

    const many = await start('many-shards', 10);
    expect(many.enqueued).toBe(300);
    const big = await countQueries(() => readRunStatus(ctx, 'many-shards'));
    expect(big.result.progress.shards.queued).toBe(300);
    expect(big.result.queue.waiting).toBe(300);
    expect(big.queries).toBe(small.queries);
    expect(big.queries).toBeLessThanOrEqual(2); // the run, then one statement for the progress
  });

  it('is plain JSON: no bigint, no Date, and survives a JSON round trip unchanged', async () => {
    const report = await readRunStatus(ctx, 'many-shards');
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(typeof report.run.fromId).toBe('string');
    expect(typeof report.run.createdAt).toBe('string');
    const all = await readAllRunStatuses(ctx);
    expect(all.map((r) => r.run.name)).toEqual(['one-shard', 'many-shards']);
    expect(all[0]!.run.status).toBe('cancelled');
    expect(all[0]!.etaSeconds).toBe(0);
  });
});

describe('controls: errors carry a kind, and nothing changes on them', () => {
  it('not_found for an unknown run or shard', async () => {
    await expect(readRunStatus(ctx, 'nope')).rejects.toMatchObject({ kind: 'not_found' });
    await expect(pauseRun(ctx, 'nope')).rejects.toMatchObject({ kind: 'not_found' });
    await expect(retryShards(ctx, 'many-shards', { shardNo: 99_999 })).rejects.toMatchObject({
      kind: 'not_found',
    });
  });

  it('conflict for an action the run state does not allow; the run is unchanged', async () => {
    await expect(resumeRun(ctx, 'one-shard')).rejects.toMatchObject({
      kind: 'conflict',
      message: 'run "one-shard" is cancelled: only a paused run can be resumed',
    });
    await expect(cancelRun(ctx, 'one-shard')).rejects.toMatchObject({ kind: 'conflict' });
    expect((await readRunStatus(ctx, 'one-shard')).run.status).toBe('cancelled');
  });

  it('pause and resume move the run and its queue together; repeating one is harmless', async () => {
    expect((await pauseRun(ctx, 'many-shards')).status).toBe('paused');
    expect((await pauseRun(ctx, 'many-shards')).status).toBe('paused');
    const paused = await readRunStatus(ctx, 'many-shards');
    expect(paused.run.status).toBe('paused');
    expect(paused.queuePaused).toBe(true);
    expect((await resumeRun(ctx, 'many-shards')).status).toBe('running');
    const resumed = await readRunStatus(ctx, 'many-shards');
    expect(resumed.queuePaused).toBe(false);
    await cancelRun(ctx, 'many-shards');
  });

  it("a young run's rates and ETA count only the seconds it has lived", async () => {
    const t0 = Date.now();
    const started = await start('young', 1000);
    expect(started.outcome).toBe('started');
    const run = (await readRunStatus(ctx, 'young')).run;
    ctx.transport.count(run.queue!, 1000);
    await new Promise((r) => setTimeout(r, 1100)); // into a complete second
    const s = await readRunStatus(ctx, 'young');
    // 1,000 rows in the few whole seconds the run has lived (however slow this machine was to start it),
    // not 1,000 / 60.
    const lived = Math.floor(Date.now() / 1000) - Math.floor(t0 / 1000) + 1;
    const floor = Math.floor(1000 / lived);
    expect(lived).toBeLessThan(30);
    expect(s.rowsPerSecondLastMinute).toBeGreaterThanOrEqual(floor);
    expect(s.rowsPerSecondLast15Minutes).toBeGreaterThanOrEqual(floor);
    expect(s.etaSeconds).toBeLessThanOrEqual(Math.ceil(2000 / floor) + 1); // ~3,000 rows, 1,000 done
    await cancelRun(ctx, 'young');
  });
});
