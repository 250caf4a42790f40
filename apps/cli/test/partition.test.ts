// A partition between the backfill and PostgreSQL: the network goes silent mid-batch (packets vanish,
// nothing is closed). The backfill's open transactions must not keep the application's rows locked
// beyond a stated bound: every backfill session has idle_in_transaction_session_timeout = statement
// timeout + 5 s, so the server rolls them back and releases their locks.
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { collect, runCli, spawnCli, spawnWorker } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { removeRedisKeys } from '../../../test-support/distributed.js';
import { waitFor } from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';
import { type FaultProxy, startFaultProxy, viaProxy } from '../../../test-support/tcp-proxy.js';

const PREFIX = `bft-partition-${process.pid}`;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});
afterAll(async () => {
  await removeRedisKeys(PREFIX, REDIS_URL);
});

const STATEMENT_TIMEOUT_S = 3;
const BOUND_MS = (STATEMENT_TIMEOUT_S + 5) * 1000;

describe('partition from PostgreSQL', { timeout: 180_000 }, () => {
  it('a worker with two writers per shard, black-holed mid-batch: no row stays locked beyond the bound', async () => {
    const url = await migratedDatabase('partition_pg');
    await seedLegacyRows(url, 200_000);
    const u = new URL(url);
    const env = { DATABASE_URL: url, REDIS_URL, QUEUE_PREFIX: PREFIX };
    const started = await runCli(
      [
        'start',
        '--name',
        'part',
        '--commit',
        '--shard-rows',
        '200000',
        '--batch-size',
        '2000',
        '--statement-timeout',
        `${STATEMENT_TIMEOUT_S}s`,
        '--lock-timeout',
        `${STATEMENT_TIMEOUT_S}s`,
        '--max-rows-per-second',
        '20000',
      ],
      env,
    );
    expect(started.code, started.stderr).toBe(0);
    proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || 5432) });
    // Batch k+1's UPDATE runs while batch k commits: its transaction holds row locks while it waits.
    const run = spawnWorker(['--concurrency', '1', '--writers', '2', '--poll-interval', '200ms'], {
      ...env,
      DATABASE_URL: viaProxy(url, proxy),
      LOG_LEVEL: 'warn',
    });
    try {
      await waitFor('the run to write some rows', () =>
        withClient(url, async (c) => {
          const { rows } = await c.query(
            'SELECT count(*)::int AS n FROM run_logs WHERE event_id IS NOT NULL',
          );
          return rows[0].n >= 10_000;
        }),
      );
      // The application holds a row a few batches ahead: the batch containing it waits, and the batch
      // after it (the other writer) runs its UPDATE and waits for it inside its transaction.
      const done = await withClient(url, async (c) =>
        Number((await c.query('SELECT max(id) AS m FROM run_logs WHERE event_id IS NOT NULL')).rows[0].m),
      );
      const app = new pg.Client({ connectionString: url });
      await app.connect();
      await app.query('BEGIN');
      await app.query(`UPDATE run_logs SET level = level WHERE id = $1`, [done + 6000]);
      const idleInTransaction = () =>
        withClient(url, async (c) => {
          const { rows } = await c.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE application_name = 'backfill-worker' AND datname = $1 AND state LIKE 'idle in transaction%'`,
            [u.pathname.slice(1)],
          );
          return rows[0].n > 0;
        });
      await waitFor('a backfill transaction holding rows while it waits', idleInTransaction, 30_000, 50);
      proxy.setMode({ kind: 'blackhole' });
      const cut = Date.now();
      await app.query('COMMIT');
      await app.end();
      // The backfill's sessions, seen from the server: any still inside a transaction holds row locks.
      const inTransaction = () =>
        withClient(url, async (c) => {
          const { rows } = await c.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE application_name = 'backfill-worker' AND datname = $1 AND xact_start IS NOT NULL`,
            [u.pathname.slice(1)],
          );
          return rows[0].n as number;
        });
      await waitFor(
        'every backfill transaction to end on the server',
        async () => (await inTransaction()) === 0,
        60_000,
        250,
      );
      const released = Date.now() - cut;
      expect(released).toBeLessThanOrEqual(BOUND_MS + 3000);
      // The application can now change any row, including those the last batches had locked.
      await withClient(url, async (c) => {
        await c.query("SET lock_timeout = '1s'");
        const res = await c.query(`UPDATE run_logs SET message = 'app' WHERE id BETWEEN 1 AND 200000`);
        expect(res.rowCount).toBe(200_000);
      });
    } finally {
      run.kill('SIGKILL');
    }
  });

  it('run: PostgreSQL gone for longer than --reconnect-budget exits 3 with the reason and the exact resume command', async () => {
    const url = await migratedDatabase('partition_run_budget');
    await seedLegacyRows(url, 50_000);
    const u = new URL(url);
    proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || 5432) });
    const args = ['run', '--commit', '--batch-size', '1000', '--max-rows-per-second', '10000'];
    const child = spawnCli([...args, '--statement-timeout', '1s', '--reconnect-budget', '2s'], {
      DATABASE_URL: viaProxy(url, proxy),
      LOG_LEVEL: 'warn',
    });
    const exited = collect(child);
    await waitFor('some batches to commit', () =>
      withClient(url, async (c) => {
        const { rows } = await c.query('SELECT count(event_id)::int AS n FROM run_logs');
        return rows[0].n >= 5000;
      }),
    );
    proxy.setMode({ kind: 'blackhole' });
    const res = await exited;
    expect(res.code, res.stderr).toBe(3);
    expect(res.stderr).toMatch(/could not be reached again within 2s \(the reconnect budget\)/);
    expect(res.stderr).not.toMatch(/unexpected error/);
    const resume = /resume with: (backfill run --commit --from-id (\d+) --to-id 50000)/.exec(res.stderr);
    expect(resume, res.stderr).not.toBeNull();
    // Every row before the resume point is done; the command, run directly, finishes the rest.
    const from = Number(resume![2]);
    const before = await withClient(url, (c) =>
      c.query('SELECT count(*)::int AS n FROM run_logs WHERE id < $1 AND event_id IS NULL', [from]),
    );
    expect(before.rows[0].n).toBe(0);
    const again = await runCli(resume![1]!.split(' ').slice(1), { DATABASE_URL: url });
    expect(again.code, again.stderr).toBe(0);
    const left = await withClient(url, (c) =>
      c.query('SELECT count(*)::int AS n FROM run_logs WHERE event_id IS NULL'),
    );
    expect(left.rows[0].n).toBe(0);
  });
});
