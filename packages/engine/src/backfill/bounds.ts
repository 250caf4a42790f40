// Id bounds and cheap row-count estimates (the planner's, from table statistics: no scan).
import type pg from 'pg';
import { qualified, type TableRef } from '../db.js';

export async function idBounds(client: pg.ClientBase, table: TableRef): Promise<{ min: bigint; max: bigint } | null> {
  const { rows } = await client.query<{ min: string | null; max: string | null }>(
    `SELECT min(id)::text AS min, max(id)::text AS max FROM ${qualified(table)}`,
  );
  const r = rows[0];
  if (!r?.min || !r.max) return null;
  return { min: BigInt(r.min), max: BigInt(r.max) };
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
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${qualified(table)}
      WHERE id > ${BigInt(afterId).toString()} AND id <= ${BigInt(toId).toString()} AND event_id IS NULL`,
  );
  return Math.round(rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0);
}
