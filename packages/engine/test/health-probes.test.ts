// The health probes against the real PostgreSQL: each signal read from the catalog as the gates expect,
// the operator probe's answers (and failures), and one read per interval for the whole process.

import { RUN_LOGS } from '@backfill/engine/db';
import { HealthMonitor, readHealthSample } from '@backfill/engine/health';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

let url: string;
const opened: pg.Client[] = [];
async function session(applicationName: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: applicationName });
  await c.connect();
  c.on('error', () => {});
  opened.push(c);
  return c;
}
beforeAll(async () => {
  url = await migratedDatabase('health_probes');
  await seedLegacyRows(url, 1000);
});
afterAll(async () => {
  for (const c of opened) await c.end().catch(() => {});
});

const sample = async (probes: string[] = []) => {
  const c = await session('probe');
  try {
    return await readHealthSample(c, RUN_LOGS, probes);
  } finally {
    await c.end();
    opened.splice(opened.indexOf(c), 1);
  }
};

describe('health probes', () => {
  it('lock waits: a session waiting on a lock a backfill session holds, not the other way round', async () => {
    const backfill = await session('backfill-test');
    const app = await session('the-app');
    await backfill.query('BEGIN');
    await backfill.query('UPDATE run_logs SET level = level WHERE id = 1');
    const waiting = app.query('UPDATE run_logs SET message = $1 WHERE id = 1', ['app']);
    await waitFor('the application to wait', async () => (await sample()).lockWaitMs >= 300, 10_000, 50);
    await backfill.query('COMMIT');
    await waiting;
    expect((await sample()).lockWaitMs).toBe(0);
    // The application holding a row the backfill waits for is not the backfill's doing.
    await app.query('BEGIN');
    await app.query('UPDATE run_logs SET level = level WHERE id = 2');
    const blocked = backfill.query('UPDATE run_logs SET level = level WHERE id = 2');
    await new Promise((r) => setTimeout(r, 400));
    expect((await sample()).lockWaitMs).toBe(0);
    await app.query('COMMIT');
    await blocked;
  });

  it("the oldest open transaction: the application's, not the backfill's own", async () => {
    const mine = await session('backfill-run');
    await mine.query('BEGIN');
    await mine.query('SELECT txid_current()');
    await new Promise((r) => setTimeout(r, 300));
    expect((await sample()).oldestTransactionMs).toBeLessThan(250);
    const app = await session('reporting');
    await app.query('BEGIN');
    await app.query('SELECT txid_current()');
    await new Promise((r) => setTimeout(r, 300));
    expect((await sample()).oldestTransactionMs).toBeGreaterThanOrEqual(250);
    await app.query('COMMIT');
    await mine.query('COMMIT');
  });

  it("another database's open transaction does not count: it does not hold back this table's vacuum", async () => {
    const other = new pg.Client({ connectionString: url.replace(/\/[^/?]+(\?|$)/, '/postgres$1') });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT txid_current()');
      await new Promise((r) => setTimeout(r, 300));
      // Other test files share this server, so only the other session's own age is known: the sample
      // must not include it.
      const { rows } = await other.query<{ ms: number }>(
        'SELECT extract(epoch FROM clock_timestamp() - xact_start)::float8 * 1000 AS ms FROM pg_stat_activity WHERE pid = pg_backend_pid()',
      );
      expect(rows[0]!.ms).toBeGreaterThanOrEqual(250);
      expect((await sample()).oldestTransactionMs).toBeLessThan(rows[0]!.ms - 100);
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
  });

  it('no standby, no autovacuum, and a WAL position that moves with writes', async () => {
    const before = await sample();
    expect(before.replicationLagMs).toBe(0);
    expect(before.autovacuum).toBeNull();
    const c = await session('writer');
    await c.query("UPDATE run_logs SET message = 'moved' WHERE id <= 500");
    expect((await sample()).walLsnBytes).toBeGreaterThan(before.walLsnBytes);
  });

  it('the operator probe: its answer, and a hold with the reason when it fails or answers the wrong shape', async () => {
    const c = await session('setup');
    await c.query('CREATE TABLE hold_switch (reason text)');
    const sql = `SELECT EXISTS (SELECT 1 FROM hold_switch) AS hold, (SELECT min(reason) FROM hold_switch) AS reason`;
    expect((await sample([sql])).probes[sql]).toEqual({
      hold: false,
      reason: 'the gate SQL probe says hold',
    });
    await c.query("INSERT INTO hold_switch VALUES ('deploy in progress')");
    expect((await sample([sql])).probes[sql]).toEqual({ hold: true, reason: 'deploy in progress' });
    const broken = 'SELECT * FROM no_such_table';
    expect((await sample([broken])).probes[broken]).toMatchObject({
      hold: true,
      reason: /probe failed: .*no_such_table/,
    });
    const shape = 'SELECT 1 AS yes';
    expect((await sample([shape])).probes[shape]).toMatchObject({
      hold: true,
      reason: /boolean column "hold"/,
    });
    // Read-only: a probe cannot change anything.
    const writes = "INSERT INTO hold_switch VALUES ('x') RETURNING true AS hold";
    expect((await sample([writes])).probes[writes]).toMatchObject({
      hold: true,
      reason: /read-only transaction/,
    });
  });

  it('the monitor reads once per interval for the whole process, however many shards ask', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      const monitor = new HealthMonitor(pool, 500);
      await Promise.all(Array.from({ length: 20 }, () => monitor.sample(RUN_LOGS, [])));
      expect(monitor.reads).toBe(1);
      await monitor.sample(RUN_LOGS, []);
      expect(monitor.reads).toBe(1);
      await new Promise((r) => setTimeout(r, 600));
      await Promise.all(Array.from({ length: 5 }, () => monitor.sample(RUN_LOGS, [])));
      expect(monitor.reads).toBe(2);
    } finally {
      await pool.end();
    }
  });
});
