// The distributed backfill end to end: worker child processes, real Redis and PostgreSQL.

import { eventId } from '@backfill/shared/event-id';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import {
  FAST_WORKER_FLAGS,
  rowsDone,
  startFleet,
  waitFor,
  waitForCheckpoint,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { startPrivateRedis } from '../../../test-support/redis.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-dist-${process.pid}`;

async function prepared(name: string, rows: number): Promise<string> {
  const url = await migratedDatabase(`dist_${name}`);
  await seedLegacyRows(url, rows);
  return url;
}

const envFor = (url: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: url,
  QUEUE_PREFIX: PREFIX,
  ...extra,
});

async function start(env: Record<string, string>, name: string, args: string[] = []) {
  const res = await runCli(['start', '--name', name, '--commit', '--json', ...args], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

async function verifyComplete(env: Record<string, string>, toId: string) {
  const res = await runCli(['verify', '--full', '--expect-complete', '--to-id', toId, '--json'], env);
  expect(res.code, res.stdout + res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

/** Each shard's 'completed' transition, counted: exactly once per shard that was not split. */
async function completions(url: string) {
  return withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT s.shard_no, s.status, count(e.id) FILTER (WHERE e.to_status = 'completed')::int AS completed
         FROM backfill_shards s LEFT JOIN backfill_shard_events e ON e.run_id = s.run_id AND e.shard_no = s.shard_no
        GROUP BY s.shard_no, s.status ORDER BY s.shard_no`,
    );
    return rows as Array<{ shard_no: number; status: string; completed: number }>;
  });
}

describe('distributed backfill', { timeout: 300_000 }, () => {
  it('3 workers, 300k rows, live application writes: exact, every shard completed once, app ids untouched', async () => {
    const url = await prepared('three_workers', 300_000);
    const env = envFor(url);
    const started = await start(env, 'big', ['--shard-rows', '20000', '--batch-size', '2000']);
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
        await new Promise((res) => setTimeout(res, 10));
      }
    })();

    const fleet = startFleet(3, env);
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
      c.query('SELECT count(DISTINCT worker)::int AS n FROM backfill_shard_events WHERE worker IS NOT NULL'),
    );
    expect(workers.rows[0].n).toBeGreaterThanOrEqual(2);
    const ids = appRows.map((r) => r.id);
    const now = await withClient(url, (c) =>
      c.query('SELECT id::text, xmin::text, event_id FROM run_logs WHERE id = ANY($1::bigint[])', [ids]),
    );
    expect(now.rows.sort((a, b) => Number(a.id) - Number(b.id))).toEqual(appRows);
  });

  it('a SIGKILLed worker (two writers per shard) loses no work: another resumes from the checkpoint', async () => {
    const url = await prepared('sigkill', 60_000);
    const env = envFor(url);
    const started = await start(env, 'kill', [
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

  it('FLUSHALL mid-run, then recover: the run completes exactly from the ledger', async () => {
    const redis = await startPrivateRedis();
    const url = await prepared('flushall', 60_000);
    const env = envFor(url, { REDIS_URL: redis.url });
    try {
      const started = await start(env, 'flush', [
        '--shard-rows',
        '10000',
        '--batch-size',
        '1000',
        '--max-rows-per-second',
        '10000',
      ]);
      const fleet = startFleet(2, env);
      try {
        await waitFor('some progress', async () => (await rowsDone(url)) >= 15_000);
        const { Redis } = await import('ioredis');
        const r = new Redis(redis.url);
        await r.flushall();
        r.disconnect();
        const recovered = await runCli(['recover', 'flush', '--json'], env);
        expect(recovered.code, recovered.stderr).toBe(0);
        expect(JSON.parse(recovered.stdout).enqueued).toBeGreaterThan(0);
        await waitForRunStatus(url, 'flush', 'completed', 120_000);
      } finally {
        await fleet.stopAll();
      }
      await verifyComplete(env, String(started.run.toId));
      expect(await rowsDone(url)).toBe(60_000);
    } finally {
      await redis.stop();
    }
  });

  it('workers reconnect after pg_terminate_backend on their connections and finish', async () => {
    const url = await prepared('terminate', 60_000);
    const env = envFor(url);
    const started = await start(env, 'term', [
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
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'backfill-worker' AND datname = current_database()`,
        ),
      );
      expect(killed.rowCount).toBeGreaterThan(0);
      await waitForRunStatus(url, 'term', 'completed', 120_000);
    } finally {
      await fleet.stopAll();
    }
    await verifyComplete(env, String(started.run.toId));
    expect(await rowsDone(url)).toBe(60_000);
  });

  it('a shard that always fails ends failed with its error in status; retry --failed completes it', async () => {
    const url = await prepared('failing', 30_000);
    await withClient(url, (c) =>
      c.query(`
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refusing id % (test trigger)', NEW.id; END $$;
        CREATE TRIGGER refuse BEFORE UPDATE ON run_logs FOR EACH ROW WHEN (NEW.id BETWEEN 12000 AND 12010) EXECUTE FUNCTION refuse();`),
    );
    const env = envFor(url);
    await start(env, 'fail', ['--shard-rows', '10000', '--attempts', '2', '--backoff', '100ms']);
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
    const url = await prepared('pause', 60_000);
    const env = envFor(url);
    await start(env, 'pz', ['--shard-rows', '10000', '--batch-size', '500', '--max-rows-per-second', '6000']);
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
      await new Promise((r) => setTimeout(r, 2000));
      expect(await rowsDone(url)).toBe(a); // nothing written while paused
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

  it('SIGTERM: the worker finishes its batch, hands the shard back with its checkpoint, and exits 0', async () => {
    const url = await prepared('sigterm', 40_000);
    const env = envFor(url);
    await start(env, 'term2', [
      '--shard-rows',
      '40000',
      '--batch-size',
      '1000',
      '--max-rows-per-second',
      '4000',
    ]);
    const fleet = startFleet(1, env);
    try {
      await waitForCheckpoint(url);
      const p = fleet.procs[0]!;
      const t0 = Date.now();
      const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      p.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      const shard = await withClient(
        url,
        async (c) =>
          (
            await c.query(
              `SELECT status, checkpoint_id::text AS cp, rows_updated::int AS n FROM backfill_shards`,
            )
          ).rows[0],
      );
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

  it('cancel stops the run for good; finalize finishes a run inline and proves it complete', async () => {
    const url = await prepared('cancel_finalize', 30_000);
    const env = envFor(url);
    await start(env, 'c1', ['--shard-rows', '5000', '--batch-size', '500', '--max-rows-per-second', '3000']);
    const fleet = startFleet(1, env);
    try {
      await waitFor('some progress', async () => (await rowsDone(url)) >= 2000);
      const cancelled = await runCli(['cancel', 'c1', '--json'], env);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(JSON.parse(cancelled.stdout).cancelledShards).toBeGreaterThan(0);
      // The batch in flight may still commit; then nothing more.
      let last = -1;
      await waitFor(
        'writes to stop',
        async () => {
          const now = await rowsDone(url);
          const stable = now === last;
          last = now;
          return stable;
        },
        10_000,
        1000,
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(await rowsDone(url)).toBe(last);
      const shards = await withClient(url, (c) =>
        c.query(`SELECT DISTINCT status FROM backfill_shards WHERE status <> 'completed'`),
      );
      expect(shards.rows.map((r) => r.status)).toEqual(['cancelled']);
      const again = await runCli(['start', '--name', 'c1', '--commit', '--json'], env);
      expect(JSON.parse(again.stdout).outcome).toBe('exists'); // same name: a no-op
    } finally {
      await fleet.stopAll();
    }
    // A new run on the same table, no workers at all: finalize does everything inline, then verifies.
    await start(env, 'c2', ['--shard-rows', '5000']);
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
});

afterAll(async () => {
  const { Redis } = await import('ioredis');
  const r = new Redis('redis://127.0.0.1:6379');
  const keys = await r.keys(`${PREFIX}:*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
});
