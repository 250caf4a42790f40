// What the README promises about running workers, end to end: SIGTERM with a batch that cannot finish
// forces the close at --shutdown-timeout and the shard comes back to another worker; one worker process
// serves every active run of its database at once.
import type { ChildProcess } from 'node:child_process';
import { closeControl, openControl, startRun } from '@backfill/control';
import { verifyRange } from '@backfill/engine/backfill';
import { silentLogger } from '@backfill/engine/logger';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { removeRedisKeys } from '../../../test-support/distributed.js';
import {
  startFleet,
  stopFleet,
  WHOLE_SHARD_FLAGS,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-ops-${process.pid}`;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function prepared(name: string, rows: number): Promise<{ url: string; env: Record<string, string> }> {
  const url = await migratedDatabase(`ops_${name}`);
  await seedLegacyRows(url, rows);
  return { url, env: { DATABASE_URL: url, REDIS_URL, QUEUE_PREFIX: PREFIX } };
}

async function start(env: Record<string, string>, name: string, args: string[]) {
  const res = await runCli(['start', '--name', name, '--commit', '--json', ...args], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as { run: { id: number; toId: string } };
}

const exitOf = (p: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) resolve(p.exitCode);
    else p.once('exit', (code) => resolve(code));
  });

/** Rows written per run, from the shard counters. */
const rowsByRun = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT r.name, sum(s.rows_updated)::int AS n FROM backfill_runs r JOIN backfill_shards s ON s.run_id = r.id
        GROUP BY r.name ORDER BY r.name`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.n]));
  });

describe('distributed mode: operating workers', { timeout: 300_000 }, () => {
  // BullMQ's Worker.close(true) after a graceful close() returns that first close (which waits for the
  // active job): the worker must not wait on it once the shutdown timeout has passed.
  it('SIGTERM while a batch cannot finish: the worker forces the close at --shutdown-timeout, and the shard completes later with another worker', async () => {
    const { url, env } = await prepared('forced_close', 20_000);
    const LOCKED_ID = 5500;
    const SHUTDOWN_MS = 2000;
    const started = await start(env, 'fc', [
      '--shard-rows',
      '20000',
      '--batch-size',
      '1000',
      // Generous: the blocked UPDATE outlives the shutdown timeout many times over, so only the
      // forced close can end the worker in time.
      '--lock-timeout',
      '10m',
      '--statement-timeout',
      '10m',
    ]);
    // Another session holds a row of the sixth batch: that batch's UPDATE waits on it.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM run_logs WHERE id = $1 FOR UPDATE', [LOCKED_ID]);
    const flags = [...WHOLE_SHARD_FLAGS, '--shutdown-timeout', `${SHUTDOWN_MS}ms`, '--concurrency', '1'];
    const fleet = startFleet(1, env, flags);
    const first = fleet.procs[0]!;
    try {
      await waitFor('the worker UPDATE to wait on the locked row', () =>
        withClient(
          url,
          async (c) =>
            (
              await c.query(
                `SELECT 1 FROM pg_stat_activity
                  WHERE datname = current_database() AND application_name = 'backfill-worker'
                    AND wait_event_type = 'Lock'
                    AND (query LIKE '%UPDATE%' OR query LIKE '%backfill_apply_batch%')`,
              )
            ).rowCount,
        ),
      );
      const t0 = Date.now();
      first.kill('SIGTERM');
      // "About" the timeout: margin for a loaded machine, far below the 10 min lock timeout.
      const deadline = SHUTDOWN_MS + 10_000;
      const code = await Promise.race([
        exitOf(first),
        new Promise<'still running'>((r) => setTimeout(() => r('still running'), deadline)),
      ]);
      const elapsed = Date.now() - t0;
      expect(code, `worker exit ${elapsed} ms after SIGTERM`).toBe(0);
      expect(elapsed).toBeGreaterThanOrEqual(SHUTDOWN_MS - 100); // it did wait for the batch first
      expect(fleet.logs[0]).toMatch(/shutdown timeout: forcing the close/);

      await holder.query('COMMIT');
      // The shard's job is still active under the dead worker's lock: it returns when that expires.
      const second = fleet.add();
      await waitForRunStatus(url, 'fc', 'completed', 120_000);
      const claims = await withClient(url, async (c) => {
        const { rows } = await c.query(
          `SELECT worker FROM backfill_shard_events WHERE to_status = 'running' ORDER BY id`,
        );
        return rows.map((r) => r.worker as string);
      });
      expect(claims).toHaveLength(2);
      expect(claims[0]).toMatch(new RegExp(`:${first.pid}$`));
      expect(claims[1]).toMatch(new RegExp(`:${second.pid}$`));
      const shard = await withClient(
        url,
        async (c) => (await c.query('SELECT status, attempts, rows_updated::int FROM backfill_shards')).rows,
      );
      expect(shard).toEqual([{ status: 'completed', attempts: 2, rows_updated: 20_000 }]);
    } finally {
      await holder.end().catch(() => {});
      if (first.exitCode === null && first.signalCode === null) first.kill('SIGKILL');
      await stopFleet(fleet);
    }
    const verify = await runCli(
      ['verify', '--full', '--expect-complete', '--to-id', String(started.run.toId), '--json'],
      env,
    );
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('one worker process serves two active runs (two tables of its database) at once: both complete exactly', async () => {
    // One run per table at a time, and a worker serves the runs of its own database: so two tables.
    const { url, env } = await prepared('two_runs', 30_000);
    await withClient(url, async (c) => {
      await c.query('CREATE TABLE run_logs_b (LIKE run_logs INCLUDING ALL)');
      await c.query('INSERT INTO run_logs_b SELECT * FROM run_logs WHERE id <= 20000');
    });
    const throttle = 6000; // slow enough that the two runs overlap
    await start(env, 'ra', [
      '--shard-rows',
      '5000',
      '--batch-size',
      '500',
      '--max-rows-per-second',
      String(throttle),
    ]);
    // `backfill start` always targets run_logs; the control plane takes any run_logs-shaped table.
    const ctx = await openControl({
      databaseUrl: url,
      redisUrl: REDIS_URL,
      prefix: PREFIX,
      logger: silentLogger,
    });
    try {
      const b = await startRun(ctx, {
        name: 'rb',
        table: { schema: 'public', name: 'run_logs_b' },
        shardRows: 5000,
        order: 'asc',
        method: 'keyset',
        analyze: false,
        settings: { ...RUN_SETTINGS_DEFAULTS, batchSize: 500, maxRowsPerSecond: throttle },
        commit: true,
      });
      expect(b.outcome).toBe('started');
    } finally {
      await closeControl(ctx);
    }
    const fleet = startFleet(1, env);
    try {
      await waitFor('shards of both runs running at the same time', () =>
        withClient(
          url,
          async (c) =>
            (
              await c.query(
                `SELECT count(DISTINCT run_id)::int AS n FROM backfill_shards WHERE status = 'running'`,
              )
            ).rows[0].n === 2,
        ),
      );
      await waitForRunStatus(url, 'ra', 'completed', 180_000);
      await waitForRunStatus(url, 'rb', 'completed', 180_000);
      // Runs it no longer serves hold no Redis connection of the still running worker (CLIENT LIST
      // names each worker connection after its run's queue).
      const pid = fleet.procs[0]!.pid;
      const redis = new Redis(REDIS_URL);
      try {
        const clients = async () => String(await redis.call('CLIENT', 'LIST')).split('\n');
        const perRun = new RegExp(`name=backfill-worker:[^ ]*:${pid}:run-`);
        await waitFor(
          'the worker to close the connections of the finished runs',
          async () => (await clients()).filter((l) => perRun.test(l)).length === 0,
        );
        const own = new RegExp(`name=backfill-worker:[^ ]*:${pid} `);
        expect((await clients()).some((l) => own.test(l))).toBe(true); // its own is still there
      } finally {
        redis.disconnect();
      }
    } finally {
      await stopFleet(fleet);
    }
    expect(await rowsByRun(url)).toEqual({ ra: 30_000, rb: 20_000 }); // each row counted once, in its run
    const perShard = await withClient(url, async (c) => {
      const { rows } = await c.query(
        `SELECT s.run_id, s.shard_no, s.status,
                (SELECT count(*)::int FROM backfill_shard_events e
                  WHERE e.run_id = s.run_id AND e.shard_no = s.shard_no AND e.to_status = 'completed') AS completed
           FROM backfill_shards s ORDER BY s.run_id, s.shard_no`,
      );
      return rows;
    });
    // 6 + 4 planned; an idle slot may have stolen half of a running shard (a new shard, done once too).
    expect(perShard.length).toBeGreaterThanOrEqual(6 + 4);
    for (const s of perShard)
      expect(s, `run ${s.run_id} shard ${s.shard_no}`).toMatchObject({ status: 'completed', completed: 1 });
    const workers = await withClient(url, async (c) => {
      const { rows } = await c.query(
        'SELECT DISTINCT worker FROM backfill_shard_events WHERE worker IS NOT NULL',
      );
      return rows.map((r) => r.worker as string);
    });
    expect(workers).toEqual([expect.stringMatching(new RegExp(`:${fleet.procs[0]!.pid}$`))]);
    for (const table of ['run_logs', 'run_logs_b']) {
      const v = await verifyRange({
        databaseUrl: url,
        table: { schema: 'public', name: table },
        mode: { full: true },
        logger: silentLogger,
      });
      expect(v, table).toMatchObject({
        matches: table === 'run_logs' ? 30_000 : 20_000,
        mismatches: 0,
        nullCount: 0,
      });
    }
  });
});

afterAll(async () => {
  await removeRedisKeys(PREFIX, REDIS_URL);
});
