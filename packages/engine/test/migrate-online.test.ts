// The index build must never make application writes wait for it, even when it is itself stuck behind
// a long transaction on the table.
import { RUN_LOGS } from '@backfill/engine/db';
import { buildEventIdIndex, DEFAULT_LOCK_POLICY, eventIdIndexState } from '@backfill/engine/migrate';
import { EVENT_ID_INDEX_NAME } from '@backfill/shared';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { captureLogger } from '../../../test-support/logger.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const INSERT_ONE = `INSERT INTO run_logs (run_id, event_type, message) VALUES (gen_random_uuid(), 'app', $1)`;

describe('building ix_run_logs_event_id', () => {
  it('lets application writes through while it waits for an open write transaction', async () => {
    const url = await migratedDatabase('migrate_online_index');
    await seedLegacyRows(url, 5000);
    await withClient(url, (c) => c.query(`DROP INDEX ${EVENT_ID_INDEX_NAME}`));

    // A: a write transaction left open (RowExclusiveLock on run_logs), which any index build must outwait.
    const a = new pg.Client({ connectionString: url });
    const b = new pg.Client({ connectionString: url });
    await a.connect();
    await b.connect();
    let aOpen = false;
    let build: Promise<unknown> | undefined;
    try {
      await a.query('BEGIN');
      await a.query(INSERT_ONE, ['open transaction']);
      aOpen = true;
      const { logger } = captureLogger('warn');
      build = buildEventIdIndex({
        databaseUrl: url,
        logger,
        ...DEFAULT_LOCK_POLICY,
        indexLockTimeoutMs: 120_000,
      });
      build.catch(() => {}); // awaited below; the checks before it may throw first
      await waitFor('the index build to wait on a lock', () =>
        withClient(url, async (c) => {
          const { rows } = await c.query(
            `SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'backfill-index'
                AND wait_event_type = 'Lock'`,
          );
          return rows.length > 0;
        }),
      );
      // B: the application. A plain CREATE INDEX would have queued a ShareLock request behind A, and B's
      // RowExclusiveLock would queue behind that until lock_timeout.
      await b.query(`SET lock_timeout = '3s'`);
      await expect(b.query(INSERT_ONE, ['during the build'])).resolves.toMatchObject({ rowCount: 1 });
      await a.query('COMMIT');
      aOpen = false;
      await expect(build).resolves.toBe('built');
    } finally {
      if (aOpen) await a.query('ROLLBACK').catch(() => {});
      await build?.catch(() => {});
      await a.end();
      await b.end();
    }
    const state = await withClient(url, (c) => eventIdIndexState(c, RUN_LOGS));
    expect(state).toMatchObject({ exists: true, valid: true });
    const count = await withClient(url, (c) => c.query('SELECT count(*)::int AS n FROM run_logs'));
    expect(count.rows[0].n).toBe(5002);
  });
});
