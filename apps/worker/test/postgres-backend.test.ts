// What is PostgreSQL-queue specific: the --queue-backend flag alone (no variable) on every program, with
// BullMQ's tables in the run's own database and nothing touching Redis (REDIS_URL names a port where
// nothing listens), and a bad value refused. The distributed scenarios themselves (crashes, controls, a
// fleet, the queue wiped) run on both backends in distributed-*.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { collect, runCli, spawnWorker } from '../../../test-support/cli.js';
import { withClient } from '../../../test-support/db.js';
import { backendEnv, prepared, removeRedisKeys } from '../../../test-support/distributed.js';
import {
  FAST_WORKER_FLAGS,
  rowsDone,
  startFleet,
  stopFleet,
  waitForRunStatus,
} from '../../../test-support/fleet.js';

const PREFIX = `bft-pgq-${process.pid}`;
afterAll(() => removeRedisKeys(PREFIX));

/** No Redis at all: a URL nothing answers, so any Redis use would fail the run. */
const pgEnv = (url: string) => backendEnv(url, PREFIX, 'postgres');

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
    expect(await queueJobs(url)).toContain('job'); // BullMQ's tables, in the run's own database
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
