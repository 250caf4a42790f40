// --max-rows-per-second is a promise to the database's owner: a lower bound on how long rows take.
import { localRowLimiter, processRange } from '@backfill/engine/backfill';
import { RUN_LOGS } from '@backfill/engine/db';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { captureLogger } from '../../../test-support/logger.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const { logger } = captureLogger('warn');

describe('a local rows-per-second budget', () => {
  it('makes N rows take at least N/R − 1 seconds (one second of burst)', async () => {
    const rows = 5000;
    const rate = 1000;
    const url = await migratedDatabase('throttle_local');
    await seedLegacyRows(url, rows);
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    // The budget's windows are timed with Date.now(), so this clock can compare with them exactly.
    const started = Date.now();
    try {
      const r = await processRange({
        pool,
        table: RUN_LOGS,
        cursor: 0n,
        toId: BigInt(rows),
        batchSize: 500,
        commit: true,
        onBadRow: 'fail',
        rateLimiter: localRowLimiter(rate),
        logger,
      });
      expect(r).toMatchObject({ complete: true, rowsUpdated: rows });
    } finally {
      await pool.end();
    }
    const elapsedMs = Date.now() - started;
    expect(elapsedMs).toBeGreaterThanOrEqual((rows / rate - 1) * 1000);
    const filled = await withClient(url, (c) =>
      c.query('SELECT count(*)::int AS n FROM run_logs WHERE event_id IS NOT NULL'),
    );
    expect(filled.rows[0].n).toBe(rows);
  });
});
