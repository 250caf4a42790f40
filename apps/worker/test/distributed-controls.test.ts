// The operator's controls on a distributed run, end to end with worker processes and real PostgreSQL, on
// each queue backend (Redis; BullMQ's PostgreSQL one): retry of a failed shard, pause and resume, cancel,
// finalize.
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { withClient } from '../../../test-support/db.js';
import {
  backendEnv,
  fleetLogLines,
  noShardJobInFlight,
  prepared,
  QUEUE_BACKENDS,
  removeRedisKeys,
  runIdOf,
  runQueueState,
  startRun,
} from '../../../test-support/distributed.js';
import { rowsDone, startFleet, waitFor, waitForRunStatus } from '../../../test-support/fleet.js';

const PREFIX = `bft-dist-ctl-${process.pid}`;

afterAll(() => removeRedisKeys(PREFIX));

describe.each(QUEUE_BACKENDS)(
  'distributed backfill on %s queues: operator controls',
  { timeout: 300_000 },
  (backend) => {
    it('a shard that always fails ends failed with its error in status; retry --failed completes it', async () => {
      const url = await prepared(`failing_${backend}`, 30_000);
      await withClient(url, (c) =>
        c.query(`
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refusing id % (test trigger)', NEW.id; END $$;
        CREATE TRIGGER refuse BEFORE UPDATE ON run_logs FOR EACH ROW WHEN (NEW.id BETWEEN 12000 AND 12010) EXECUTE FUNCTION refuse();`),
      );
      const env = backendEnv(url, PREFIX, backend);
      await startRun(env, 'fail', ['--shard-rows', '10000', '--attempts', '2', '--backoff', '100ms']);
      const fleet = startFleet(2, env);
      try {
        await waitForRunStatus(url, 'fail', 'failed', 120_000);
        const status = await runCli(['status', 'fail'], env);
        expect(status.code).toBe(0);
        expect(status.stdout).toMatch(/2 completed, 0 running, 0 queued, 1 failed/);
        expect(status.stdout).toMatch(/shard 1 failed after 2 attempts: .*refusing id 12000/);
        expect(status.stdout).toMatch(/backfill retry fail --failed/);
        await withClient(url, (c) => c.query('DROP TRIGGER refuse ON run_logs'));
        const retried = await runCli(['retry', 'fail', '--failed'], env);
        expect(retried.code, retried.stderr).toBe(0);
        expect(retried.stdout).toMatch(/requeued shards 1 of run fail/);
        await waitForRunStatus(url, 'fail', 'completed', 120_000);
      } finally {
        await fleet.stopAll();
      }
      expect(await rowsDone(url)).toBe(30_000);
    });

    it('pause stops UPDATEs within seconds, keeps checkpoints; resume finishes the run', async () => {
      const url = await prepared(`pause_${backend}`, 60_000);
      const env = backendEnv(url, PREFIX, backend);
      await startRun(env, 'pz', [
        '--shard-rows',
        '10000',
        '--batch-size',
        '500',
        '--max-rows-per-second',
        '6000',
      ]);
      const fleet = startFleet(2, env);
      try {
        await waitFor('some progress', async () => (await rowsDone(url)) >= 6000);
        const paused = await runCli(['pause', 'pz'], env);
        expect(paused.code, paused.stderr).toBe(0);
        // Within a few seconds the workers are at a batch boundary and hand their shards back.
        await waitFor(
          'no running shard',
          () =>
            withClient(
              url,
              async (c) =>
                (await c.query(`SELECT 1 FROM backfill_shards WHERE status = 'running'`)).rowCount === 0,
            ),
          5000,
        );
        const a = await rowsDone(url);
        // The shards handed back wait out a short delay before they are due again. Once every one sits
        // in the paused queue, none delayed or active, each was due while the run stayed paused: a worker
        // that ignored the pause has had its chance to take one up and write.
        const queued = await withClient(
          url,
          async (c) =>
            (await c.query(`SELECT count(*)::int AS n FROM backfill_shards WHERE status = 'queued'`)).rows[0]
              .n as number,
        );
        await waitFor(
          "the run's jobs parked in its paused queue",
          async () => {
            const { counts, paused } = await runQueueState(url, env, 'pz');
            return (
              paused &&
              counts.active === 0 &&
              counts.delayed === 0 &&
              (counts.waiting ?? 0) + (counts.prioritized ?? 0) === queued
            );
          },
          60_000,
        );
        expect(await rowsDone(url)).toBe(a); // nothing written while paused
        // status counts the parked jobs as waiting on either backend (BullMQ's PostgreSQL one says `paused`).
        const st = await runCli(['status', 'pz', '--json'], env);
        expect(st.code, st.stderr).toBe(0);
        const { queue, queuePaused } = JSON.parse(st.stdout);
        expect(queuePaused).toBe(true);
        expect((queue.waiting ?? 0) + (queue.prioritized ?? 0)).toBe(queued);
        const nulls = await withClient(url, async (c) =>
          Number((await c.query('SELECT count(*) AS n FROM run_logs WHERE event_id IS NULL')).rows[0].n),
        );
        expect(nulls).toBe(60_000 - a);
        const resumed = await runCli(['resume', 'pz'], env);
        expect(resumed.code, resumed.stderr).toBe(0);
        await waitForRunStatus(url, 'pz', 'completed', 120_000);
      } finally {
        await fleet.stopAll();
      }
      expect(await rowsDone(url)).toBe(60_000);
    });

    it('cancel stops the run for good; finalize finishes a run inline and proves it complete', async () => {
      const url = await prepared(`cancel_finalize_${backend}`, 30_000);
      const env = backendEnv(url, PREFIX, backend);
      await startRun(env, 'c1', [
        '--shard-rows',
        '5000',
        '--batch-size',
        '500',
        '--max-rows-per-second',
        '3000',
      ]);
      const runId = await runIdOf(url, 'c1');
      const fleet = startFleet(1, env);
      let last: number;
      try {
        await waitFor('some progress', async () => (await rowsDone(url)) >= 2000);
        const cancelled = await runCli(['cancel', 'c1', '--json'], env);
        expect(cancelled.code, cancelled.stderr).toBe(0);
        expect(JSON.parse(cancelled.stdout).cancelledShards).toBeGreaterThan(0);
        // The batch in flight may still commit; then nothing more. Writes are over once the worker has
        // dropped the run and every shard job it had taken has ended.
        await waitFor(
          'the worker to drop the cancelled run and end its shard jobs',
          async () =>
            fleetLogLines(fleet).some(
              (l) => l.runId === runId && l.msg === 'run no longer active: stop serving it',
            ) && noShardJobInFlight(fleet, runId),
          30_000,
        );
        last = await rowsDone(url);
        const shards = await withClient(url, (c) =>
          c.query(`SELECT DISTINCT status FROM backfill_shards WHERE status <> 'completed'`),
        );
        expect(shards.rows.map((r) => r.status)).toEqual(['cancelled']);
        const again = await runCli(['start', '--name', 'c1', '--commit', '--json'], env);
        expect(JSON.parse(again.stdout).outcome).toBe('exists'); // same name: a no-op
      } finally {
        await fleet.stopAll();
      }
      // Checked once the worker has exited: whatever it might still have written is in by now.
      expect(await rowsDone(url)).toBe(last);
      // A new run on the same table, no workers at all: finalize does everything inline, then verifies.
      await startRun(env, 'c2', ['--shard-rows', '5000']);
      const other = await runCli(['start', '--name', 'c3', '--commit'], env);
      expect(other.code).toBe(1);
      expect(other.stderr).toMatch(/run "c2" is already running on public.run_logs/);
      const fin = await runCli(['finalize', 'c2', '--json'], env);
      expect(fin.code, fin.stderr).toBe(0);
      const r = JSON.parse(fin.stdout);
      expect(r.verify).toMatchObject({ nullCount: 0, mismatches: 0 });
      expect(r.shardsFinishedInline).toBeGreaterThan(0);
      const status = await withClient(
        url,
        async (c) => (await c.query(`SELECT status FROM backfill_runs WHERE name = 'c2'`)).rows[0].status,
      );
      expect(status).toBe('finalized');
    });
  },
);
