// QUEUE_BACKEND=postgres: the queues live in PostgreSQL (BullMQ's PostgreSQL backend, schema bullmq)
// and nothing touches Redis — REDIS_URL points at a port where nothing listens. The same guarantees as
// with Redis, end to end with worker processes: a SIGKILLed worker loses no work, pause holds every
// write, a failed shard is retried, each row is written once.
import { afterAll, describe, expect, it } from 'vitest';
import { collect, runCli, spawnWorker } from '../../../test-support/cli.js';
import { withClient } from '../../../test-support/db.js';
import {
  distributedEnv,
  prepared,
  removeRedisKeys,
  verifyComplete,
} from '../../../test-support/distributed.js';
import {
  FAST_WORKER_FLAGS,
  rowsDone,
  startFleet,
  stopFleet,
  waitFor,
  waitForCheckpoint,
  waitForRunStatus,
} from '../../../test-support/fleet.js';

const PREFIX = `bft-pgq-${process.pid}`;
afterAll(() => removeRedisKeys(PREFIX));

/** No Redis at all: a URL nothing answers, so any Redis use would fail the run. */
const pgEnv = (url: string) =>
  distributedEnv(url, PREFIX, { QUEUE_BACKEND: 'postgres', REDIS_URL: 'redis://127.0.0.1:1' });

const start = async (env: Record<string, string>, name: string, args: string[]) => {
  const res = await runCli(['start', '--name', name, '--commit', '--json', ...args], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
};

const queueJobs = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'bullmq' ORDER BY 1`,
    );
    return rows.map((r) => r.table_name as string);
  });

describe('PostgreSQL-only queues (no Redis)', { timeout: 300_000 }, () => {
  it('a SIGKILLed worker loses no work, pause holds every write, resume finishes exactly', async () => {
    const url = await prepared('pgq_kill', 60_000);
    const env = pgEnv(url);
    const started = await start(env, 'pgq', [
      '--shard-rows',
      '10000',
      '--batch-size',
      '1000',
      '--max-rows-per-second',
      '8000',
    ]);
    expect(await queueJobs(url)).toContain('job'); // BullMQ's tables, in the run's own database
    const fleet = startFleet(2, env, [...FAST_WORKER_FLAGS, '--concurrency', '1']);
    try {
      await waitForCheckpoint(url);
      fleet.procs[0]!.kill('SIGKILL');
      fleet.add();
      await waitFor('some progress', async () => (await rowsDone(url)) >= 15_000);
      const paused = await runCli(['pause', 'pgq'], env);
      expect(paused.code, paused.stderr).toBe(0);
      await waitFor(
        'no running shard',
        () =>
          withClient(
            url,
            async (c) =>
              (await c.query(`SELECT 1 FROM backfill_shards WHERE status = 'running'`)).rowCount === 0,
          ),
        30_000,
      );
      const held = await rowsDone(url);
      await new Promise((r) => setTimeout(r, 3000)); // every delayed hand-back falls due meanwhile
      expect(await rowsDone(url)).toBe(held);
      const status = await runCli(['status', 'pgq', '--json'], env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).run.status).toBe('paused');

      const resumed = await runCli(['resume', 'pgq'], env);
      expect(resumed.code, resumed.stderr).toBe(0);
      await waitForRunStatus(url, 'pgq', 'completed', 180_000);
    } finally {
      await stopFleet(fleet);
    }
    await verifyComplete(env, String(started.run.toId));
    expect(await rowsDone(url)).toBe(60_000); // each row counted once
    const attempts = await withClient(url, (c) =>
      c.query('SELECT max(attempts)::int AS n FROM backfill_shards'),
    );
    expect(attempts.rows[0].n).toBeGreaterThanOrEqual(2); // the killed worker's shard was claimed again
  });

  it('--queue-backend postgres (the flag, no variable): a failing shard ends failed; retry --failed completes it', async () => {
    const url = await prepared('pgq_fail', 30_000);
    await withClient(url, (c) =>
      c.query(`
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refusing id % (test trigger)', NEW.id; END $$;
        CREATE TRIGGER refuse BEFORE UPDATE ON run_logs FOR EACH ROW WHEN (NEW.id BETWEEN 12000 AND 12010) EXECUTE FUNCTION refuse();`),
    );
    const { QUEUE_BACKEND: _, ...env } = pgEnv(url);
    const pg = ['--queue-backend', 'postgres'];
    await start(env, 'pgf', [...pg, '--shard-rows', '10000', '--attempts', '2', '--backoff', '100ms']);
    const fleet = startFleet(1, env, [...FAST_WORKER_FLAGS, ...pg]);
    try {
      await waitForRunStatus(url, 'pgf', 'failed', 120_000);
      const status = await runCli(['status', 'pgf', ...pg], env);
      expect(status.stdout).toMatch(/shard 1 failed after 2 attempts: .*refusing id 12000/);
      await withClient(url, (c) => c.query('DROP TRIGGER refuse ON run_logs'));
      const retried = await runCli(['--queue-backend', 'postgres', 'retry', 'pgf', '--failed'], env);
      expect(retried.code, retried.stderr).toBe(0);
      await waitForRunStatus(url, 'pgf', 'completed', 120_000);
    } finally {
      await stopFleet(fleet);
    }
    expect(await rowsDone(url)).toBe(30_000);
    // No worker logged a Redis fault: nothing tried to reach it.
    expect(fleet.logs.join('')).not.toMatch(/ECONNREFUSED 127\.0\.0\.1:1\b/);
  });

  it('a bad --queue-backend is exit 2 naming the flag, for every program, and nothing is written', async () => {
    const url = await prepared('pgq_bad', 1000);
    const env = pgEnv(url);
    const res = await runCli(['start', '--name', 'x', '--commit', '--queue-backend', 'kafka'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--queue-backend: must be redis or postgres \(got "kafka"\)/);
    const worker = await collect(spawnWorker(['--queue-backend', 'kafka'], env));
    expect(worker.code).toBe(2);
    expect(worker.stderr).toMatch(/--queue-backend: must be redis or postgres/);
    const runs = await withClient(url, (c) => c.query('SELECT count(*)::int AS n FROM backfill_runs'));
    expect(runs.rows[0].n).toBe(0);
  });
});
