// Workers and their connections dying mid-run, end to end with worker processes and real PostgreSQL, on
// each queue backend: SIGKILL, SIGTERM (a rolling deploy) and pg_terminate_backend (which on PostgreSQL
// queues also cuts the queue's own connections) lose no work and redo none.
import { afterAll, describe, expect, it } from 'vitest';
import { withClient } from '../../../test-support/db.js';
import {
  backendEnv,
  prepared,
  QUEUE_BACKENDS,
  removeRedisKeys,
  startRun,
  verifyComplete,
} from '../../../test-support/distributed.js';
import {
  FAST_WORKER_FLAGS,
  rowsDone,
  startFleet,
  waitFor,
  waitForCheckpoint,
  waitForRunStatus,
} from '../../../test-support/fleet.js';

const PREFIX = `bft-dist-crash-${process.pid}`;

afterAll(() => removeRedisKeys(PREFIX));

describe.each(QUEUE_BACKENDS)(
  'distributed backfill on %s queues: crashes',
  { timeout: 300_000 },
  (backend) => {
    it('a SIGKILLed worker (two writers per shard) loses no work: another resumes from the checkpoint', async () => {
      const url = await prepared(`sigkill_${backend}`, 60_000);
      const env = backendEnv(url, PREFIX, backend);
      const started = await startRun(env, 'kill', [
        '--shard-rows',
        '30000',
        '--batch-size',
        '1000',
        '--max-rows-per-second',
        '8000',
      ]);
      // One shard at a time, two UPDATEs in flight: the kill can land while a batch waits on the one before.
      const fleet = startFleet(1, env, [...FAST_WORKER_FLAGS, '--concurrency', '1', '--writers', '2']);
      try {
        // Once the only worker is mid-shard, kill it without warning and start a replacement.
        await waitForCheckpoint(url);
        fleet.procs[0]!.kill('SIGKILL');
        fleet.add();
        await waitForRunStatus(url, 'kill', 'completed', 120_000);
      } finally {
        await fleet.stopAll();
      }
      await verifyComplete(env, String(started.run.toId));
      expect(await rowsDone(url)).toBe(60_000);
      const attempts = await withClient(url, (c) =>
        c.query('SELECT max(attempts)::int AS n FROM backfill_shards'),
      );
      expect(attempts.rows[0].n).toBeGreaterThanOrEqual(2); // the killed shard was claimed again
    });

    it('workers reconnect after pg_terminate_backend on their connections and finish', async () => {
      const url = await prepared(`terminate_${backend}`, 60_000);
      const env = backendEnv(url, PREFIX, backend);
      const started = await startRun(env, 'term', [
        '--shard-rows',
        '10000',
        '--batch-size',
        '1000',
        '--max-rows-per-second',
        '10000',
      ]);
      const fleet = startFleet(2, env);
      try {
        await waitFor('some progress', async () => (await rowsDone(url)) >= 10_000);
        const killed = await withClient(url, (c) =>
          c.query(
            `SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'backfill-worker%' AND datname = current_database()`,
          ),
        );
        const names = new Set(killed.rows.map((r) => r.application_name as string));
        expect(names).toContain('backfill-worker'); // the batch engine's connections
        // On PostgreSQL queues, BullMQ's connections too (named after the worker).
        if (backend === 'postgres')
          expect([...names].some((n) => n.startsWith('backfill-worker:'))).toBe(true);
        await waitForRunStatus(url, 'term', 'completed', 120_000);
      } finally {
        await fleet.stopAll();
      }
      await verifyComplete(env, String(started.run.toId));
      expect(await rowsDone(url)).toBe(60_000);
    });

    it('SIGTERM: the worker finishes its batch, hands the shard back with its checkpoint, and exits 0', async () => {
      const url = await prepared(`sigterm_${backend}`, 40_000);
      const env = backendEnv(url, PREFIX, backend);
      await startRun(env, 'term2', [
        '--shard-rows',
        '40000',
        '--batch-size',
        '1000',
        '--max-rows-per-second',
        '4000',
      ]);
      // One shard, one worker: no idle slot stealing half of it (the hand-back of this one shard is the point).
      const fleet = startFleet(1, env, [...FAST_WORKER_FLAGS, '--steal', 'off']);
      try {
        await waitForCheckpoint(url);
        const p = fleet.procs[0]!;
        const t0 = Date.now();
        const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
        p.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(Date.now() - t0).toBeLessThan(10_000);
        const shards = await withClient(
          url,
          async (c) =>
            (
              await c.query(
                `SELECT status, checkpoint_id::text AS cp, rows_updated::int AS n FROM backfill_shards`,
              )
            ).rows,
        );
        expect(shards).toHaveLength(1);
        const shard = shards[0];
        expect(shard.status).toBe('queued');
        expect(Number(shard.cp)).toBeGreaterThan(0);
        expect(shard.n).toBeGreaterThan(0);
        const event = await withClient(
          url,
          async (c) =>
            (
              await c.query(
                `SELECT message FROM backfill_shard_events WHERE to_status = 'queued' AND from_status = 'running'`,
              )
            ).rows[0],
        );
        expect(event.message).toBe('worker shutting down');
        fleet.add(); // picks the released shard up at once, from its checkpoint
        await waitForRunStatus(url, 'term2', 'completed', 60_000);
      } finally {
        await fleet.stopAll();
      }
      expect(await rowsDone(url)).toBe(40_000);
    });
  },
);
