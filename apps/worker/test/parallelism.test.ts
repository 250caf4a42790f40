// A run's parallelism: the shards processed at once by the whole fleet, however many workers stand and
// however many slots each has. Two workers of two slots each run one shard at a time under
// --parallelism 1 (the queue's global concurrency, on Redis and on PostgreSQL queues alike); a live
// `set --parallelism 3` lets three run within 5 s; the run completes with every row once.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { withClient } from '../../../test-support/db.js';
import {
  backendEnv,
  completions,
  fleetLogLines,
  prepared,
  QUEUE_BACKENDS,
  removeRedisKeys,
  startRun,
  verifyComplete,
} from '../../../test-support/distributed.js';
import {
  FAST_WORKER_FLAGS,
  type Fleet,
  startFleet,
  stopFleet,
  waitFor,
  waitForFleetStarted,
  waitForRunStatus,
} from '../../../test-support/fleet.js';

const PREFIX = `bft-parallelism-${process.pid}`;
const ROWS = 24_000;
const fleets: Fleet[] = [];
afterEach(async () => {
  for (const f of fleets.splice(0)) await stopFleet(f);
});
afterAll(() => removeRedisKeys(PREFIX));

/** `start` flags for small shards at a fixed rate and batch size: each shard runs long enough to watch. */
const throttledRun = (shardRows: number, rowsPerSecond: number, parallelism: number) => [
  '--shard-rows',
  String(shardRows),
  '--batch-size',
  '100',
  '--target-batch-ms',
  '0',
  '--max-rows-per-second',
  String(rowsPerSecond),
  '--parallelism',
  String(parallelism),
];

const runningShards = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM backfill_shards WHERE status = 'running'`,
    );
    return rows[0]!.n;
  });

describe.each(QUEUE_BACKENDS)('parallelism (%s queues)', { timeout: 180_000 }, (backend) => {
  it('caps the shards in flight across the fleet, and a live change lifts the cap within 5 s', async () => {
    const url = await prepared(`parallelism_${backend}`, ROWS);
    const env = backendEnv(url, `${PREFIX}-${backend}`, backend);
    // 12 shards of 2,000 rows; 300 rows/s for the run, so no shard ends before the change below.
    await startRun(env, 'capped', throttledRun(2_000, 300, 1));
    fleets.push(startFleet(2, env, [...FAST_WORKER_FLAGS, '--concurrency', '2']));

    // Four slots stand; one shard runs at a time, and an idle slot steals nothing at the cap.
    await waitFor('a shard to run', async () => (await runningShards(url)) >= 1, 60_000, 50);
    let most = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      most = Math.max(most, await runningShards(url));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(most).toBe(1);

    const set = await runCli(['set', 'capped', '--parallelism', '3', '--max-rows-per-second', '3000'], env);
    expect(set.code, set.stderr).toBe(0);
    const changed = Date.now();
    await waitFor('three shards at once', async () => (await runningShards(url)) === 3, 5000, 50);
    expect(Date.now() - changed).toBeLessThan(5000);

    await waitForRunStatus(url, 'capped', 'completed', 120_000);
    expect((await completions(url)).every((s) => s.status !== 'completed' || s.completed === 1)).toBe(true);
    await verifyComplete(env, String(ROWS));
  });
});

// A run's parallelism spreads over the workers standing: under --parallelism 2, two workers of two
// slots each run one shard each. (The first to fetch used to take both and keep them: it fetches the
// next job in the step that completes one, so the other worker stood idle.)
describe.each(QUEUE_BACKENDS)('parallelism over the fleet (%s queues)', { timeout: 180_000 }, (backend) => {
  it('two workers of two slots under --parallelism 2 run one shard each', async () => {
    const url = await prepared(`parallelism_spread_${backend}`, 12_000);
    const env = backendEnv(url, `${PREFIX}-spread-${backend}`, backend);
    const fleet = startFleet(2, env, [...FAST_WORKER_FLAGS, '--concurrency', '2']);
    fleets.push(fleet);
    await waitForFleetStarted(fleet);
    // Each has beaten and counted the other (a poll is 200 ms).
    await waitFor(
      'two heartbeats',
      () =>
        withClient(url, async (c) => {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM backfill_workers');
          return rows[0]!.n === 2;
        }),
      30_000,
      50,
    );
    await new Promise((r) => setTimeout(r, 1000));
    // 6 shards of 2,000 rows at 1,500 rows/s: each runs for a few seconds, two at a time.
    await startRun(env, 'spread', throttledRun(2_000, 1_500, 2));
    const owners = () =>
      withClient(url, async (c) => {
        const { rows } = await c.query<{ worker: string }>(
          `SELECT worker FROM backfill_shards WHERE status = 'running' AND worker IS NOT NULL`,
        );
        return rows.map((r) => r.worker);
      });
    let samples = 0;
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      const o = await owners();
      if (o.length === 2) {
        samples++;
        expect(new Set(o).size, `running shards on ${o.join(', ')}`).toBe(2);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(samples).toBeGreaterThan(10);
    await waitForRunStatus(url, 'spread', 'completed', 120_000);
    await verifyComplete(env, '12000');
  });
});

// On PostgreSQL queues nothing holds a job back at the limit (BullMQ's global concurrency is off there:
// its backend polls without pause at it), so a worker with a slot free takes the next shard's job at
// once: here the second of two workers (each takes one shard of the run at a time, its share of the
// parallelism). It keeps the job and asks the ledger again until the running shard ends, rather than
// handing it back to the queue for a second or two each time.
describe('parallelism on PostgreSQL queues', { timeout: 120_000 }, () => {
  it('a shard over the limit waits in its slot and starts when the running one ends, never handed back', async () => {
    const url = await prepared('parallelism_turns', 3000);
    const env = backendEnv(url, `${PREFIX}-turns`, 'postgres');
    // Three shards of 1,000 rows at 1,500 rows/s: each runs about 0.7 s, one at a time.
    await startRun(env, 'turns', throttledRun(1_000, 1_500, 1));
    const fleet = startFleet(2, { ...env, LOG_LEVEL: 'debug' }, [...FAST_WORKER_FLAGS, '--concurrency', '2']);
    fleets.push(fleet);
    await waitForRunStatus(url, 'turns', 'completed', 60_000);
    const msgs = fleetLogLines(fleet).map((l) => l.msg);
    expect(msgs).toContain('at the run parallelism: waiting in the slot for a turn');
    expect(msgs).not.toContain('at the run parallelism: the shard waits its turn in the queue');
    expect(msgs.filter((m) => m === 'shard claimed')).toHaveLength(3);
    expect((await completions(url)).every((s) => s.status === 'completed' && s.completed === 1)).toBe(true);
    await verifyComplete(env, '3000');
  });
});

describe('--parallelism', () => {
  it('is refused below 0 or above its bound, naming the flag (exit 2), and nothing is written', async () => {
    const url = await prepared('parallelism_flag', 10);
    const env = backendEnv(url, `${PREFIX}-flag`, 'redis');
    for (const v of ['-1', '10001', 'two']) {
      const res = await runCli(['start', '--name', 'bad', '--commit', '--parallelism', v], env);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/--parallelism/);
    }
    const runs = await withClient(url, (c) => c.query('SELECT count(*)::int AS n FROM backfill_runs'));
    expect(runs.rows[0].n).toBe(0);
  });
});
