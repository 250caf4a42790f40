// The distributed backfill end to end with a fleet of worker processes and real PostgreSQL, on each queue
// backend: three workers beside the application's live writes, and the queue wiped mid-run (Redis
// flushed; BullMQ's PostgreSQL tables emptied) then rebuilt from the ledger.
// (Crashes are in distributed-crashes.test.ts, operator controls in distributed-controls.test.ts.)
import { eventId } from '@backfill/shared/event-id';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { withClient } from '../../../test-support/db.js';
import {
  backendEnv,
  completions,
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
  waitForFleetStarted,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { startPrivateRedis } from '../../../test-support/redis.js';

const PREFIX = `bft-dist-fleet-${process.pid}`;

afterAll(() => removeRedisKeys(PREFIX));

describe.each(QUEUE_BACKENDS)(
  'distributed backfill on %s queues: a fleet',
  { timeout: 300_000 },
  (backend) => {
    it('3 workers, 300k rows, live application writes: exact, every shard completed once, app ids untouched', async () => {
      const url = await prepared(`three_workers_${backend}`, 300_000);
      const env = backendEnv(url, PREFIX, backend);
      // The fleet stands before the run starts: a worker still booting when the others have done every
      // shard (a loaded machine) would leave "more than one worker did work" to chance.
      const fleet = startFleet(3, env);
      let started: Awaited<ReturnType<typeof startRun>>;
      try {
        await waitForFleetStarted(fleet);
        started = await startRun(env, 'big', ['--shard-rows', '20000', '--batch-size', '2000']);
      } catch (err) {
        await fleet.stopAll();
        throw err;
      }
      expect(started.outcome).toBe('started');
      const toId = String(started.run.toId);

      // The write path keeps inserting rows with their event_id while the backfill runs.
      const app = new pg.Client({ connectionString: url });
      await app.connect();
      const appRows: Array<{ id: string; xmin: string; event_id: string }> = [];
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const row = {
            run_id: '2f1b7c3e-0000-4000-8000-000000000001',
            event_type: 'app',
            level: 'info',
            message: `m${i}`,
            data: { i },
          };
          const r = await app.query(
            'INSERT INTO run_logs (run_id, event_type, level, message, data, event_id) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id::text, xmin::text, event_id',
            [row.run_id, row.event_type, row.level, row.message, JSON.stringify(row.data), eventId(row)],
          );
          appRows.push(r.rows[0]);
          // Pacing, not synchronisation: an application's trickle of inserts, not a second bulk load.
          await new Promise((res) => setTimeout(res, 10));
        }
      })();

      try {
        await waitForRunStatus(url, 'big', 'completed', 180_000);
      } finally {
        writing = false;
        await writer;
        await app.end();
        await fleet.stopAll();
      }
      const report = await verifyComplete(env, toId);
      expect(report.matches).toBeGreaterThanOrEqual(300_000);
      expect(await rowsDone(url)).toBe(300_000); // exactly the rows that were NULL: none twice, none missed
      for (const s of await completions(url))
        expect(s, `shard ${s.shard_no}`).toMatchObject({ status: 'completed', completed: 1 });
      // More than one worker did work.
      const workers = await withClient(url, (c) =>
        c.query(
          'SELECT count(DISTINCT worker)::int AS n FROM backfill_shard_events WHERE worker IS NOT NULL',
        ),
      );
      expect(workers.rows[0].n).toBeGreaterThanOrEqual(2);
      const ids = appRows.map((r) => r.id);
      const now = await withClient(url, (c) =>
        c.query('SELECT id::text, xmin::text, event_id FROM run_logs WHERE id = ANY($1::bigint[])', [ids]),
      );
      expect(now.rows.sort((a, b) => Number(a.id) - Number(b.id))).toEqual(appRows);
    });

    it('the queue wiped mid-run (FLUSHALL, or BullMQ tables truncated), then recover: the run completes exactly from the ledger', async () => {
      const redis = backend === 'redis' ? await startPrivateRedis() : null;
      const url = await prepared(`flushall_${backend}`, 60_000);
      const env = backendEnv(url, PREFIX, backend, redis ? { REDIS_URL: redis.url } : {});
      try {
        const started = await startRun(env, 'flush', [
          '--shard-rows',
          '10000',
          '--batch-size',
          '1000',
          '--max-rows-per-second',
          '10000',
        ]);
        // The workers' own reconcile pass (every --stalled-interval) kept out of the way: this is `recover`.
        const fleet = startFleet(2, env, [...FAST_WORKER_FLAGS, '--stalled-interval', '1h']);
        try {
          await waitFor('some progress', async () => (await rowsDone(url)) >= 15_000);
          await wipeQueues(url, redis?.url);
          const recovered = await runCli(['recover', 'flush', '--json'], env);
          expect(recovered.code, recovered.stderr).toBe(0);
          const report = JSON.parse(recovered.stdout);
          // Every shard with work left had lost its job: recover says which it added back.
          expect(report.added.length).toBeGreaterThan(0);
          expect(recovered.stdout).not.toMatch(/nothing changed/);
          await waitForRunStatus(url, 'flush', 'completed', 120_000);
        } finally {
          await fleet.stopAll();
        }
        await verifyComplete(env, String(started.run.toId));
        expect(await rowsDone(url)).toBe(60_000);
      } finally {
        await redis?.stop();
      }
    });
  },
);

/** Every queue's state gone: Redis flushed, or every queue table of BullMQ's PostgreSQL schema emptied. */
async function wipeQueues(url: string, redisUrl: string | undefined) {
  if (redisUrl) {
    const r = new Redis(redisUrl);
    await r.flushall();
    r.disconnect();
    return;
  }
  await withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
        WHERE schemaname = 'bullmq' AND tablename <> 'migration'`, // BullMQ's own schema version stays
    );
    expect(rows.length).toBeGreaterThan(0);
    await c.query(`TRUNCATE ${rows.map((r) => r.t).join(', ')}`);
  });
}
