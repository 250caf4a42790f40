// A worker that stalls past its lock (SIGSTOP here; a GC pause or a slow network in production) while
// another takes its shard over must not write to that shard again when it wakes: every claim carries a
// fencing token (the shard's epoch), and a write with a stale one is refused. Counters stay exact and
// the run's status right.
import { verifyRange } from '@backfill/engine/backfill';
import { silentLogger } from '@backfill/engine/logger';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { removeRedisKeys } from '../../../test-support/distributed.js';
import { startFleet, WHOLE_SHARD_FLAGS, waitFor, waitForRunStatus } from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-fence-${process.pid}`;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROWS = 60_000;
const BATCH = 1000;

afterAll(async () => {
  await removeRedisKeys(PREFIX, REDIS_URL);
});

const shardOf = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT epoch, status, checkpoint_id::int AS ck, rows_updated::int AS rows, batches, worker
         FROM backfill_shards`,
    );
    return rows[0] as { epoch: number; status: string; ck: number | null; rows: number; batches: number };
  });

describe('shard fencing', { timeout: 240_000 }, () => {
  it('a worker SIGSTOPped past its lock, then resumed, writes nothing to the shard another worker took over', async () => {
    const url = await migratedDatabase('fencing');
    await seedLegacyRows(url, ROWS);
    const env = { DATABASE_URL: url, REDIS_URL, QUEUE_PREFIX: PREFIX };
    const started = await runCli(
      [
        'start',
        '--name',
        'fence',
        '--commit',
        '--json',
        '--shard-rows',
        String(ROWS),
        '--batch-size',
        String(BATCH),
        '--target-batch-ms',
        '0', // fixed batches: the counters below are exact
        // Slow enough that the first worker is stopped mid-shard and still has work when it wakes.
        '--max-rows-per-second',
        '4000',
      ],
      env,
    );
    expect(started.code, started.stderr).toBe(0);

    const fleet = startFleet(1, env, WHOLE_SHARD_FLAGS); // 4 s locks, stalled jobs looked for every 2 s
    try {
      const first = fleet.procs[0]!;
      await waitFor(
        'the first worker to checkpoint',
        async () => ((await shardOf(url)).ck ?? 0) >= 5 * BATCH,
      );
      first.kill('SIGSTOP');
      const stoppedAt = (await shardOf(url)).ck!;
      fleet.add();
      // The second worker claims the stalled shard (a new epoch) and makes progress of its own.
      await waitFor(
        'the second worker to take the shard over and move it on',
        async () => {
          const s = await shardOf(url);
          return s.epoch >= 2 && (s.ck ?? 0) >= stoppedAt + 5 * BATCH;
        },
        120_000,
      );
      first.kill('SIGCONT');
      await waitForRunStatus(url, 'fence', 'completed', 120_000);
      await waitFor('the first worker to say it stopped working on the shard', async () =>
        fleet.logs[0]!.includes('shard taken over by another worker'),
      );
    } finally {
      await fleet.stopAll();
    }

    const shard = await shardOf(url);
    expect(shard.status).toBe('completed');
    // Every row once, every batch once: the stale worker's writes were refused, not counted twice.
    expect(shard.rows).toBe(ROWS);
    expect(shard.batches).toBe(ROWS / BATCH);
    const v = await verifyRange({ databaseUrl: url, mode: { full: true }, logger: silentLogger });
    expect(v).toMatchObject({ rowsChecked: ROWS, mismatches: 0, nullCount: 0 });
    const run = await withClient(url, (c) => c.query('SELECT status FROM backfill_runs'));
    expect(run.rows[0].status).toBe('completed');
  });
});
