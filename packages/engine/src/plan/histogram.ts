// The id column's equi-depth histogram (pg_stats.histogram_bounds): shard boundaries without reading the
// table. ANALYZE samples at most 300 × statistics-target rows, so at any table size this stays fast.
import type pg from 'pg';
import { qualified, quoteIdent, type TableRef } from '../db.js';
import { LockTimeoutError, PgCode, pgCodeOf, UsageError } from '../errors.js';

export const HIGH_STATISTICS_TARGET = 10_000;
/** lock_timeout for the ALTER TABLE … SET STATISTICS / ANALYZE transaction. */
export const ANALYZE_LOCK_TIMEOUT_MS = 10_000;

export interface IdStatistics {
  /** Ascending histogram bounds (at least two). */
  bounds: bigint[];
  nullFrac: number;
}

/** Parses a one-dimensional integer array literal, `{1,2,3}`. */
export function parseBigintArray(text: string): bigint[] {
  const inner = text.trim().replace(/^\{/, '').replace(/\}$/, '').trim();
  if (inner === '') return [];
  return inner.split(',').map((s) => BigInt(s.trim()));
}

/** The id histogram as pg_stats shows it, or null when the column has none (never analyzed, or too few rows). */
export async function readIdStatistics(client: pg.ClientBase, table: TableRef): Promise<IdStatistics | null> {
  // Inherited statistics first: they describe what `SELECT … FROM t` sees for a partitioned or
  // inheritance parent; a plain table only has the other kind.
  const { rows } = await client.query<{ bounds: string | null; null_frac: number | null }>(
    `SELECT (histogram_bounds::text::bigint[])::text AS bounds, null_frac
       FROM pg_catalog.pg_stats
      WHERE schemaname = $1 AND tablename = $2 AND attname = 'id'
      ORDER BY inherited DESC
      LIMIT 1`,
    [table.schema, table.name],
  );
  const r = rows[0];
  if (!r?.bounds) return null;
  const bounds = parseBigintArray(r.bounds);
  if (bounds.length < 2) return null;
  if (bounds.some((b, i) => i > 0 && b < bounds[i - 1]!)) bounds.sort(cmp); // pg keeps them sorted
  return { bounds, nullFrac: r.null_frac ?? 0 };
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** pg_attribute.attstattarget of id: -1 means the default (default_statistics_target). */
export async function idStatisticsTarget(client: pg.ClientBase, table: TableRef): Promise<number> {
  const { rows } = await client.query<{ target: number }>(
    `SELECT coalesce(a.attstattarget, -1)::int AS target
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = $1::regclass AND a.attname = 'id' AND NOT a.attisdropped`,
    [qualified(table)],
  );
  return rows[0]?.target ?? -1;
}

export interface AnalyzeResult {
  stats: IdStatistics | null;
  previousTarget: number;
  restoredTarget: number;
  analyzeMs: number;
}

/**
 * In one transaction: raise id's statistics target to `target`, `ANALYZE t (id)`, read the histogram,
 * put the previous target back. The new (finer) histogram stays in pg_statistic after commit, until the
 * next ANALYZE of the table replaces it; the target itself is never seen changed by anyone else. Any
 * failure rolls all of it back. Inside a caller's transaction it runs in a savepoint instead (and the
 * caller's commit or rollback decides; the table's SHARE UPDATE EXCLUSIVE lock is held until then).
 */
export async function analyzeWithTarget(
  client: pg.ClientBase,
  table: TableRef,
  target = HIGH_STATISTICS_TARGET,
): Promise<AnalyzeResult> {
  const t = qualified(table);
  const id = quoteIdent('id');
  const status = transactionStatus(client);
  if (status === 'E') {
    throw new UsageError('cannot analyze: the connection is in a failed transaction (roll it back first)');
  }
  const nested = status === 'T';
  const sp = 'plan_shards_analyze';
  await client.query(nested ? `SAVEPOINT ${sp}` : 'BEGIN');
  try {
    const { rows } = await client.query<{ prev: string }>(
      `SELECT current_setting('lock_timeout') AS prev, set_config('lock_timeout', $1, true)`,
      [String(ANALYZE_LOCK_TIMEOUT_MS)],
    );
    const previousTarget = await idStatisticsTarget(client, table);
    await client.query(`ALTER TABLE ${t} ALTER COLUMN ${id} SET STATISTICS ${Math.trunc(target)}`);
    const started = performance.now();
    await client.query(`ANALYZE ${t} (${id})`);
    const analyzeMs = performance.now() - started;
    const stats = await readIdStatistics(client, table);
    await client.query(`ALTER TABLE ${t} ALTER COLUMN ${id} SET STATISTICS ${Math.trunc(previousTarget)}`);
    const restoredTarget = await idStatisticsTarget(client, table);
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [rows[0]?.prev ?? '0']);
    await client.query(nested ? `RELEASE SAVEPOINT ${sp}` : 'COMMIT');
    return { stats, previousTarget, restoredTarget, analyzeMs };
  } catch (err) {
    await client
      .query(nested ? `ROLLBACK TO SAVEPOINT ${sp}; RELEASE SAVEPOINT ${sp}` : 'ROLLBACK')
      .catch(() => {});
    if (pgCodeOf(err) === PgCode.lockNotAvailable) {
      throw new LockTimeoutError(
        `could not lock ${t} within ${ANALYZE_LOCK_TIMEOUT_MS} ms to analyze it (a VACUUM, ANALYZE, index build ` +
          'or schema change holds it); nothing was changed — try again, or plan without --analyze',
        { cause: err },
      );
    }
    throw err;
  }
}

/** 'I' idle, 'T' in a transaction, 'E' in a failed one; null when unknown (another pg, not connected). */
function transactionStatus(client: pg.ClientBase): string | null {
  const c = client as { getTransactionStatus?: () => string | null };
  return typeof c.getTransactionStatus === 'function' ? c.getTransactionStatus() : null;
}
