// Work stealing: the tail of a run never runs alone on a fleet half idle. A worker with a free slot and
// no job waiting takes the second half of the work left in the biggest running shard; the shard's owner
// learns its new end at its next checkpoint and stops there. Every row once, counted once.
import { verifyRange } from '@backfill/engine/backfill';
import { silentLogger } from '@backfill/engine/logger';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { withClient } from '../../../test-support/db.js';
import {
  distributedEnv,
  fleetLogLines,
  prepared,
  removeRedisKeys,
  startRun,
} from '../../../test-support/distributed.js';
import {
  FAST_WORKER_FLAGS,
  type Fleet,
  startFleet,
  stopFleet,
  waitForRunStatus,
} from '../../../test-support/fleet.js';

const PREFIX = `bft-steal-${process.pid}`;
const ROWS = 60_000;
const fleets: Fleet[] = [];
afterEach(async () => {
  for (const f of fleets.splice(0)) await stopFleet(f);
});
afterAll(() => removeRedisKeys(PREFIX));

const shards = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT shard_no, status, from_id::int AS "from", to_id::int AS "to", rows_updated::int AS rows, parent_shard_no AS parent
         FROM backfill_shards ORDER BY from_id`,
    );
    return rows as Array<{
      shard_no: number;
      status: string;
      from: number;
      to: number;
      rows: number;
      parent: number | null;
    }>;
  });

describe('work stealing', { timeout: 180_000 }, () => {
  it('a run of one shard on a worker with two slots: the idle slot takes half of what is left, every row counted once', async () => {
    const url = await prepared('steal_one', ROWS);
    const env = distributedEnv(url, PREFIX);
    await startRun(env, 'steal', [
      '--shard-rows',
      String(ROWS),
      '--batch-size',
      '1000',
      '--target-batch-ms',
      '0',
      '--max-rows-per-second',
      '6000',
    ]);
    const fleet = startFleet(1, env, [...FAST_WORKER_FLAGS, '--concurrency', '2']);
    fleets.push(fleet);
    await waitForRunStatus(url, 'steal', 'completed', 120_000);
    const all = await shards(url);
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(all.every((s) => s.status === 'completed')).toBe(true);
    // The shards still tile ids 1..60000: each stolen piece begins right after its parent's new end.
    let next = 1;
    for (const s of all) {
      expect(s.from).toBe(next);
      next = s.to + 1;
    }
    expect(next).toBe(ROWS + 1);
    expect(all.filter((s) => s.parent === 0).length).toBeGreaterThanOrEqual(1);
    expect(all.reduce((n, s) => n + s.rows, 0)).toBe(ROWS);
    expect(
      fleetLogLines(fleet).some((l) => l.msg === 'idle slot: took the second half of a running shard'),
    ).toBe(true);
    expect(fleetLogLines(fleet).some((l) => l.msg === 'shard split by an idle worker: ending early')).toBe(
      true,
    );
    const v = await verifyRange({ databaseUrl: url, mode: { full: true }, logger: silentLogger });
    expect(v).toMatchObject({ rowsChecked: ROWS, mismatches: 0, nullCount: 0 });
  });

  it('--steal off leaves the shard whole', async () => {
    const url = await prepared('steal_off', 20_000);
    const env = distributedEnv(url, `${PREFIX}-off`);
    await startRun(env, 'nosteal', [
      '--shard-rows',
      '20000',
      '--batch-size',
      '1000',
      '--max-rows-per-second',
      '8000',
    ]);
    fleets.push(startFleet(1, env, [...FAST_WORKER_FLAGS, '--steal', 'off']));
    await waitForRunStatus(url, 'nosteal', 'completed', 120_000);
    expect(await shards(url)).toHaveLength(1);
  });
});
