// `backfill migrate`: bring a database to head online, and roll the event_id step back.
import { EVENT_ID_INDEX_NAME, EVENT_ID_MIGRATION_TAG, readJournal } from '@backfill/shared';
import type pg from 'pg';
import { eventIdHasStatistics } from '../backfill/missing-event-id.js';
import { connectClient, ensureDatabase, qualified, RUN_LOGS, sleep } from '../db.js';
import { PgCode, pgCodeOf } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  dropEventIdIndex,
  ensureEventIdIndex,
  eventIdIndexState,
  type IndexAction,
} from './event-id-index.js';
import { checkRunLogsShape, tableColumns } from './inspect.js';
import { withLockRetries } from './lock-retry.js';
import { applySchemaMigrations, lastAppliedMigration } from './schema-migrations.js';

export { ensureEventIdIndex, eventIdIndexState } from './event-id-index.js';
export { checkRunLogsShape, tableColumns } from './inspect.js';
export { backoffDelay, withLockRetries } from './lock-retry.js';
export { pendingMigrations } from './schema-migrations.js';

export interface LockPolicy {
  /** lock_timeout for ALTER TABLE (ADD/DROP COLUMN) and drizzle's migration transaction. */
  lockTimeoutMs: number;
  /** lock_timeout for each CREATE/DROP INDEX CONCURRENTLY try (its waits do not block writes). */
  indexLockTimeoutMs: number;
  /** Tries per step before giving up. */
  attempts: number;
}

export const DEFAULT_LOCK_POLICY: LockPolicy = {
  lockTimeoutMs: 3000,
  indexLockTimeoutMs: 60_000,
  attempts: 10,
};

/**
 * `--index=auto`: tables with more rows than this get the event_id index after the backfill, not before.
 * Every backfill UPDATE of an indexed event_id inserts a random UUID into the btree (and no update is
 * HOT): measured here, a backfill without the index runs 1.3–1.6 × faster, and one index build after
 * it sorts once and makes a smaller index. Below this, the backfill takes seconds either way and the
 * application can look rows up by event_id from the start.
 */
export const INDEX_DEFER_ABOVE_ROWS = 1_000_000;

export interface MigrateUpOptions extends LockPolicy {
  databaseUrl: string;
  /** auto: build at once up to `deferAboveRows` rows (estimated), defer above. */
  index: 'concurrent' | 'defer' | 'auto';
  /** With index 'auto' (default INDEX_DEFER_ABOVE_ROWS). */
  deferAboveRows?: number;
  /** Create the database when it does not exist (otherwise a missing one is an error: a mistyped URL). */
  createDatabase?: boolean;
  logger: Logger;
}

export interface MigrateUpReport {
  applied: string[];
  index: IndexAction | 'deferred' | 'deferred-already-valid';
  /** With index 'auto': the rows estimated and the choice made. */
  indexChoice?: { rows: number; deferAboveRows: number; chose: 'concurrent' | 'defer' };
  warnings: string[];
  seconds: number;
}

// One migrate at a time per database: two concurrent index builds would fight over the same name.
const MIGRATE_LOCK_KEY = 0x6261_636b; // "back"

async function withMigrateLock<T>(client: pg.Client, logger: Logger, fn: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
    MIGRATE_LOCK_KEY,
  ]);
  if (!rows[0]?.ok) {
    logger.warn('another `backfill migrate` is running on this database: waiting for it to finish');
    // Polled, never a blocking pg_advisory_lock: a statement waiting on it holds a snapshot, which the
    // other migrate's CREATE INDEX CONCURRENTLY waits for — a deadlock PostgreSQL breaks by killing one.
    for (;;) {
      await sleep(500);
      const retry = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
        MIGRATE_LOCK_KEY,
      ]);
      if (retry.rows[0]?.ok) break;
    }
  }
  try {
    return await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY]).catch(() => {});
  }
}

/**
 * ADD COLUMN triggers no ANALYZE and autoanalyze waits for 10% of the table to change, so a new event_id
 * has no planner statistics, and the application's queries on it plan on guesses. A column-only ANALYZE
 * samples a fixed number of rows whatever the table's size, and takes a lock that blocks no reads or writes.
 */
async function analyzeEventId(client: pg.ClientBase, logger: Logger, lockTimeoutMs: number): Promise<void> {
  if (await eventIdHasStatistics(client, RUN_LOGS)) return;
  const started = Date.now();
  await client.query('BEGIN');
  try {
    // A running (auto)vacuum holds the lock ANALYZE needs: do not wait behind it for long.
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [String(Math.trunc(lockTimeoutMs))]);
    await client.query(`ANALYZE ${qualified(RUN_LOGS)} (event_id)`);
    await client.query('COMMIT');
    logger.info(
      { ms: Date.now() - started },
      'analyzed run_logs.event_id (planner statistics for the new column)',
    );
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    if (pgCodeOf(err) !== PgCode.lockNotAvailable) throw err;
    logger.warn(
      `could not analyze run_logs.event_id now (${(err as Error).message}): run ANALYZE run_logs (event_id) later`,
    );
  }
}

export async function migrateUp(opts: MigrateUpOptions): Promise<MigrateUpReport> {
  const started = Date.now();
  const { logger } = opts;
  await ensureDatabase(opts.databaseUrl, logger, { create: opts.createDatabase ?? false });
  const client = await connectClient(opts.databaseUrl, { application_name: 'backfill-migrate' });
  try {
    return await withMigrateLock(client, logger, async () => {
      // An existing table (created by another tool) must have the columns event-id reads before we
      // touch anything: fail with nothing written otherwise.
      const before = await tableColumns(client, RUN_LOGS);
      if (before.size > 0) checkRunLogsShape(RUN_LOGS, before);

      const applied = await applySchemaMigrations(client, {
        lockTimeoutMs: opts.lockTimeoutMs,
        attempts: opts.attempts,
        logger,
      });
      if (applied.length) logger.info({ applied }, `applied migrations: ${applied.join(', ')}`);
      else logger.info('schema already at head');

      const shape = checkRunLogsShape(RUN_LOGS, await tableColumns(client, RUN_LOGS));
      for (const w of shape.warnings) logger.warn(w);
      await analyzeEventId(client, logger, opts.lockTimeoutMs);

      let index: MigrateUpReport['index'];
      let indexChoice: MigrateUpReport['indexChoice'];
      let mode = opts.index;
      if (mode === 'auto') {
        const rows = await estimatedRows(client);
        const deferAboveRows = opts.deferAboveRows ?? INDEX_DEFER_ABOVE_ROWS;
        mode = rows > deferAboveRows ? 'defer' : 'concurrent';
        indexChoice = { rows, deferAboveRows, chose: mode };
        logger.info(
          indexChoice,
          mode === 'defer'
            ? `run_logs has ~${rows} rows: ix_run_logs_event_id is deferred until the backfill is done (finalize builds it)`
            : `run_logs has ~${rows} rows: building ix_run_logs_event_id now`,
        );
      }
      if (mode === 'defer') {
        const state = await eventIdIndexState(client, RUN_LOGS);
        index = state.valid ? 'deferred-already-valid' : 'deferred';
      } else {
        index = await ensureEventIdIndex(client, {
          table: RUN_LOGS,
          lockTimeoutMs: opts.indexLockTimeoutMs,
          attempts: opts.attempts,
          logger,
        });
      }
      return {
        applied,
        index,
        ...(indexChoice && { indexChoice }),
        warnings: shape.warnings,
        seconds: (Date.now() - started) / 1000,
      };
    });
  } finally {
    await client.end().catch(() => {});
  }
}

/** The planner's row count for run_logs (reltuples scaled to its current size; no scan). */
async function estimatedRows(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${qualified(RUN_LOGS)}`,
  );
  return Math.round(rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0);
}

export interface BuildIndexOptions extends LockPolicy {
  databaseUrl: string;
  logger: Logger;
}

/** `backfill index`: the deferred index build. */
export async function buildEventIdIndex(opts: BuildIndexOptions): Promise<IndexAction> {
  const client = await connectClient(opts.databaseUrl, { application_name: 'backfill-index' });
  try {
    return await withMigrateLock(client, opts.logger, async () => {
      checkRunLogsShape(RUN_LOGS, await tableColumns(client, RUN_LOGS));
      return ensureEventIdIndex(client, {
        table: RUN_LOGS,
        lockTimeoutMs: opts.indexLockTimeoutMs,
        attempts: opts.attempts,
        logger: opts.logger,
      });
    });
  } finally {
    await client.end().catch(() => {});
  }
}

export interface MigrateDownOptions extends LockPolicy {
  databaseUrl: string;
  /** Without it, only the plan is returned and nothing changes. */
  execute: boolean;
  logger: Logger;
}

export interface MigrateDownReport {
  plan: string[];
  executed: boolean;
  seconds: number;
}

function eventIdMigrationWhen(): number {
  const entry = readJournal().find((e) => e.tag === EVENT_ID_MIGRATION_TAG);
  if (!entry) throw new Error(`migration ${EVENT_ID_MIGRATION_TAG} is missing from the journal`);
  return entry.when;
}

async function downPlan(client: pg.Client): Promise<string[]> {
  const table = qualified(RUN_LOGS);
  const columns = await tableColumns(client, RUN_LOGS);
  const index = await eventIdIndexState(client, RUN_LOGS);
  const last = await lastAppliedMigration(client);
  const plan: string[] = [];
  if (index.exists)
    plan.push(`DROP INDEX CONCURRENTLY ${EVENT_ID_INDEX_NAME} (${index.valid ? 'valid' : 'INVALID'})`);
  if (columns.has('event_id')) {
    plan.push(
      `ALTER TABLE ${table} DROP COLUMN event_id under lock_timeout with retries ` +
        '(every computed event id is dropped; they are deterministic, a later backfill recomputes them)',
    );
  }
  if (last !== null && last >= eventIdMigrationWhen()) {
    plan.push(
      `mark migration ${EVENT_ID_MIGRATION_TAG} (and any later one) as not applied, so \`backfill migrate\` re-applies it`,
    );
  }
  return plan;
}

export async function migrateDown(opts: MigrateDownOptions): Promise<MigrateDownReport> {
  const started = Date.now();
  const { logger } = opts;
  let client: pg.Client;
  try {
    client = await connectClient(opts.databaseUrl, { application_name: 'backfill-migrate-down' });
  } catch (err) {
    if (pgCodeOf(err) === PgCode.invalidCatalogName) return { plan: [], executed: false, seconds: 0 };
    throw err;
  }
  try {
    return await withMigrateLock(client, logger, async () => {
      const plan = await downPlan(client);
      if (!opts.execute || plan.length === 0)
        return { plan, executed: false, seconds: (Date.now() - started) / 1000 };

      const policy = {
        table: RUN_LOGS,
        lockTimeoutMs: opts.indexLockTimeoutMs,
        attempts: opts.attempts,
        logger,
      };
      if (await dropEventIdIndex(client, policy)) logger.info(`dropped index ${EVENT_ID_INDEX_NAME}`);

      const when = eventIdMigrationWhen();
      await withLockRetries(
        {
          what: 'drop column run_logs.event_id',
          attempts: opts.attempts,
          lockTimeoutMs: opts.lockTimeoutMs,
          logger,
        },
        async () => {
          await client.query('BEGIN');
          try {
            await client.query(`SET LOCAL lock_timeout = ${Number(opts.lockTimeoutMs)}`);
            await client.query(`ALTER TABLE ${qualified(RUN_LOGS)} DROP COLUMN IF EXISTS event_id`);
            await client
              .query(`DELETE FROM drizzle.__drizzle_migrations WHERE created_at >= $1`, [when])
              .catch(async (err) => {
                if (pgCodeOf(err) !== PgCode.undefinedTable) throw err;
              });
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => {});
            throw err;
          }
        },
      );
      logger.info('dropped column run_logs.event_id and rewound the migration journal');
      return { plan, executed: true, seconds: (Date.now() - started) / 1000 };
    });
  } finally {
    await client.end().catch(() => {});
  }
}
