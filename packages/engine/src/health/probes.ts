// Reading the database's health: one statement for every built-in signal, plus each operator probe on
// its own, read-only and under a short statement timeout. Run by the monitor, at most once per probe
// interval per process, never per batch.
import type pg from 'pg';
import type { TableRef } from '../db.js';
import type { HealthSample } from './gates.js';

/** application_name of every backfill session (the lock-wait gate counts sessions blocked by these). */
export const BACKFILL_SESSIONS = 'backfill-%';

// - replay_lag grows while a standby's replay is paused or behind (it is NULL when no WAL has been
//   written lately, which means nothing is waiting to be replayed);
// - lock waits: sessions of this database (not the backfill's) waiting on a lock that a backfill
//   session holds, the longest wait counted from the start of the waiting statement;
// - the oldest transaction: client sessions and prepared transactions of this database, the backfill's
//   own excepted (only this database's transactions hold back vacuum of the table, and another
//   database's long report is not this table's problem);
// - autovacuum on the table, and whether it is an anti-wraparound one.
const SAMPLE_SQL = `
  SELECT
    (SELECT coalesce(max(extract(epoch FROM replay_lag) * 1000), 0)::float8 FROM pg_stat_replication) AS lag_ms,
    (SELECT coalesce(max(extract(epoch FROM clock_timestamp() - w.query_start) * 1000), 0)::float8
       FROM pg_stat_activity w
      WHERE w.wait_event_type = 'Lock' AND w.datname = current_database() AND w.application_name NOT LIKE $3
        AND EXISTS (SELECT 1 FROM pg_stat_activity h
                     WHERE h.pid = ANY (pg_blocking_pids(w.pid)) AND h.application_name LIKE $3)) AS lock_wait_ms,
    (SELECT coalesce(max(extract(epoch FROM clock_timestamp() - t.started) * 1000), 0)::float8
       FROM (SELECT xact_start AS started FROM pg_stat_activity
              WHERE xact_start IS NOT NULL AND backend_type = 'client backend'
                AND datname = current_database()
                AND application_name NOT LIKE $3 AND pid <> pg_backend_pid()
             UNION ALL SELECT prepared FROM pg_prepared_xacts WHERE database = current_database()) t) AS oldest_xact_ms,
    (SELECT a.query FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a ON a.pid = v.pid
      WHERE v.relid = to_regclass(format('%I.%I', $1::text, $2::text))
        AND a.backend_type = 'autovacuum worker' LIMIT 1) AS autovacuum,
    pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS wal_bytes`;

export async function readHealthSample(
  client: pg.ClientBase,
  table: TableRef,
  probeSqls: readonly string[],
): Promise<HealthSample> {
  const { rows } = await client.query<{
    lag_ms: number;
    lock_wait_ms: number;
    oldest_xact_ms: number;
    autovacuum: string | null;
    wal_bytes: number;
  }>(SAMPLE_SQL, [table.schema, table.name, BACKFILL_SESSIONS]);
  const r = rows[0]!;
  const probes: HealthSample['probes'] = {};
  for (const sql of probeSqls) probes[sql] = await runProbe(client, sql);
  return {
    at: Date.now(),
    replicationLagMs: r.lag_ms,
    lockWaitMs: r.lock_wait_ms,
    oldestTransactionMs: r.oldest_xact_ms,
    autovacuum: r.autovacuum === null ? null : { wraparound: /to prevent wraparound/.test(r.autovacuum) },
    walLsnBytes: r.wal_bytes,
    probes,
  };
}

/** Time an operator probe may take before it counts as failed (a failed probe holds). */
export const PROBE_TIMEOUT_MS = 2000;

/**
 * An operator probe: read-only, under a statement timeout, first row's `hold` and `reason`. A probe that
 * fails or returns nothing holds, saying why: the operator asked to be asked.
 */
async function runProbe(client: pg.ClientBase, sql: string): Promise<{ hold: boolean; reason: string }> {
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${PROBE_TIMEOUT_MS}`);
    const { rows } = await client.query<{ hold?: unknown; reason?: unknown }>(sql);
    const row = rows[0];
    if (!row || typeof row.hold !== 'boolean')
      return { hold: true, reason: 'the gate SQL probe must return one row with a boolean column "hold"' };
    return {
      hold: row.hold,
      reason: row.reason == null ? 'the gate SQL probe says hold' : String(row.reason),
    };
  } catch (err) {
    return { hold: true, reason: `the gate SQL probe failed: ${(err as Error).message}` };
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}
