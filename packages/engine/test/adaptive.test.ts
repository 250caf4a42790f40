// Adaptive batch size and the WAL budget on real tables: lock contention from another connection makes
// batches shrink and wait, and the run completes; on an idle table batches grow toward the target; a
// WAL budget holds the database's WAL rate near it (on a server of the test's own, so no other test's
// WAL counts).
import { backfillPool, processRange, runBackfill } from '@backfill/engine/backfill';
import { RUN_LOGS } from '@backfill/engine/db';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { captureLogger } from '../../../test-support/logger.js';
import { seedLegacyRows } from '../../../test-support/seed.js';
import { type StandbyPair, startPrimary } from '../../../test-support/standby.js';

let server: StandbyPair | undefined;
afterAll(async () => {
  await server?.stop();
});

const { logger } = captureLogger('warn');

describe('adaptive batch size', { timeout: 120_000 }, () => {
  it('lock contention from another connection makes batches shrink and wait; the run completes', async () => {
    const url = await migratedDatabase('adaptive_locks');
    await seedLegacyRows(url, 20_000);
    const app = new pg.Client({ connectionString: url });
    await app.connect();
    await app.query('BEGIN');
    await app.query('UPDATE run_logs SET level = level WHERE id BETWEEN 8000 AND 8100');
    setTimeout(() => void app.query('COMMIT').then(() => app.end()), 3000);
    const pool = backfillPool(url, {
      statementTimeoutMs: 5000,
      lockTimeoutMs: 200,
      max: 3,
      name: 'backfill-test',
    });
    const sizes: number[] = [];
    try {
      const r = await processRange({
        pool,
        table: RUN_LOGS,
        cursor: 0n,
        toId: 20_000n,
        batchSize: 2000,
        batchPolicy: () => ({ targetMs: 300, min: 50, max: 4000, initial: 2000 }),
        commit: true,
        onBadRow: 'fail',
        lockTimeoutMs: 200,
        statementTimeoutMs: 5000,
        onBatch: (b) => sizes.push(b.batchSize),
        logger,
      });
      expect(r.complete).toBe(true);
      expect(r.retries).toBeGreaterThan(0);
      expect(Math.min(...sizes)).toBeLessThan(2000);
    } finally {
      await pool.end();
    }
    const left = await withClient(url, (c) =>
      c.query('SELECT count(*)::int AS n FROM run_logs WHERE event_id IS NULL'),
    );
    expect(left.rows[0].n).toBe(0);
  });

  it('on an idle table, batches grow from a small start toward the target, never past the maximum', async () => {
    const url = await migratedDatabase('adaptive_grow');
    await seedLegacyRows(url, 60_000);
    const pool = backfillPool(url, {
      statementTimeoutMs: 30_000,
      lockTimeoutMs: 2000,
      max: 3,
      name: 'backfill-test',
    });
    const sizes: number[] = [];
    try {
      await processRange({
        pool,
        table: RUN_LOGS,
        cursor: 0n,
        toId: 60_000n,
        batchSize: 100,
        batchPolicy: () => ({ targetMs: 1000, min: 50, max: 8000, initial: 100 }),
        commit: true,
        onBadRow: 'fail',
        onBatch: (b) => sizes.push(b.batchSize),
        logger,
      });
    } finally {
      await pool.end();
    }
    expect(sizes[0]).toBe(100);
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(4000); // ×1.2 a batch: 60,000 rows reach ~5,500
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8000);
    for (let i = 1; i < sizes.length; i++)
      expect(sizes[i]!).toBeLessThanOrEqual(Math.ceil(sizes[i - 1]! * 1.2) + 1);
  });
});

describe('the WAL budget', { timeout: 180_000 }, () => {
  it('holds the measured WAL rate within ±20% of the budget', async () => {
    server = await startPrimary();
    const url = server.primaryUrl;
    await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...DEFAULT_LOCK_POLICY });
    await seedLegacyRows(url, 36_000);
    await withClient(url, (c) => c.query('CHECKPOINT'));
    // Well below what the backfill reaches even while the rest of the suite shares the two cores (4 MB/s
    // was not always reached then): a budget it cannot reach proves nothing about holding to it.
    const budget = 2 * 1024 * 1024;
    const lsn = () =>
      withClient(url, async (c) =>
        Number((await c.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS b`)).rows[0].b),
      );
    const running = runBackfill({
      databaseUrl: url,
      batchSize: 500,
      maxRowsPerSecond: 0,
      statementTimeoutMs: 30_000,
      lockTimeoutMs: 2000,
      onBadRow: 'fail',
      commit: true,
      settings: { gateWalBytesPerSecond: budget },
      logger,
    });
    // Measured in the middle of the run: after the bucket's first second of savings, before its end.
    await new Promise((r) => setTimeout(r, 3000));
    const [b0, t0] = [await lsn(), Date.now()];
    await new Promise((r) => setTimeout(r, 8000));
    const [b1, t1] = [await lsn(), Date.now()];
    const summary = await running;
    const rate = (b1 - b0) / ((t1 - t0) / 1000);
    expect(rate).toBeGreaterThan(budget * 0.8);
    expect(rate).toBeLessThan(budget * 1.2);
    expect(summary.heldMs).toBeGreaterThan(0);
    expect(summary.complete).toBe(true);
  });
});
