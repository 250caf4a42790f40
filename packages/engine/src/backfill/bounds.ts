// Id bounds and cheap row-count estimates (the planner's, from table statistics: no scan).
import type pg from 'pg';
import { qualified, type TableRef } from '../db.js';
import { UsageError } from '../errors.js';

export async function idBounds(
  client: pg.ClientBase,
  table: TableRef,
): Promise<{ min: bigint; max: bigint } | null> {
  const { rows } = await client.query<{ min: string | null; max: string | null }>(
    `SELECT min(id)::text AS min, max(id)::text AS max FROM ${qualified(table)}`,
  );
  const r = rows[0];
  if (!r?.min || !r.max) return null;
  return { min: BigInt(r.min), max: BigInt(r.max) };
}

/**
 * The id range a command works on: the flags given, the table's first and last id for those not given.
 * An inverted range is a usage error whichever way it arises (both flags, or one flag past the table's
 * end), so no command records or reports work over an empty range by mistake. An empty table gives the
 * empty range [1, 0] when no flag was given.
 */
export async function resolveIdRange(
  client: pg.ClientBase,
  table: TableRef,
  given: { fromId?: bigint | undefined; toId?: bigint | undefined },
): Promise<{ fromId: bigint; toId: bigint }> {
  const { fromId: from, toId: to } = given;
  if (from !== undefined && to !== undefined) {
    if (from > to) throw new UsageError(`--from-id (${from}) is greater than --to-id (${to})`);
    return { fromId: from, toId: to };
  }
  const bounds = await idBounds(client, table);
  const fromId = from ?? bounds?.min ?? 1n;
  const toId = to ?? bounds?.max ?? 0n;
  if (fromId > toId && from !== undefined)
    throw new UsageError(
      bounds
        ? `--from-id ${from} is beyond the last id of ${table.schema}.${table.name} (${bounds.max}): nothing there`
        : `--from-id ${from}: ${table.schema}.${table.name} is empty`,
    );
  if (fromId > toId && to !== undefined)
    throw new UsageError(
      bounds
        ? `--to-id ${to} is below the first id of ${table.schema}.${table.name} (${bounds.min}): nothing there`
        : `--to-id ${to}: ${table.schema}.${table.name} is empty`,
    );
  return { fromId, toId };
}

/** The planner's estimate of rows with `id` in (afterId, toId] and a NULL event_id. */
export async function estimateNullRows(
  client: pg.ClientBase,
  table: TableRef,
  afterId: bigint,
  toId: bigint,
): Promise<number> {
  // Literals, not parameters, so the planner uses the histogram for these exact bounds. They are
  // BigInt-typed, so nothing but digits can reach the SQL text.
  const stats = await client.query<{ reltuples: number; analyzed: boolean; eventIdAnalyzed: boolean }>(
    `SELECT c.reltuples,
            EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = 'id') AS analyzed,
            EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = 'event_id')
              AS "eventIdAnalyzed"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [table.schema, table.name],
  );
  // Never analyzed: the planner would multiply default selectivities into a tiny guess. The id span
  // (capped by the row count, when known) is an honest upper bound instead.
  const s = stats.rows[0];
  if (!s?.analyzed) {
    const span = Number(toId - afterId);
    return s && s.reltuples >= 0 ? Math.min(span, Math.round(s.reltuples)) : span;
  }
  // event_id never analyzed (right after migrate): the planner's 0.5% guess for IS NULL would make the
  // estimate 200 × too small. Every row of the range is the honest upper bound.
  const nullCondition = s.eventIdAnalyzed ? ' AND event_id IS NULL' : '';
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${qualified(table)}
      WHERE id > ${BigInt(afterId).toString()} AND id <= ${BigInt(toId).toString()}${nullCondition}`,
  );
  return Math.round(rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0);
}
