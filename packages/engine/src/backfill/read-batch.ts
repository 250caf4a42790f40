// Keyset reads over the primary key: only rows still missing an event id, in id order.
import type pg from 'pg';
import { qualified, type TableRef } from '../db.js';

export interface SourceRow {
  id: string; // int8 arrives as a string
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  /** jsonb as text: parsed (JSON.parse, as pg itself would) in the compute step, not on receive. */
  data: string | null;
}

export function readBatchSql(table: TableRef): string {
  // data::text keeps the read short on the wire-parsing side; computeBatch parses it while the
  // previous batch's UPDATE runs, and the statement time we measure stays close to database time.
  return `SELECT id, run_id, event_type, level, message, data::text AS data
            FROM ${qualified(table)}
           WHERE id > $1 AND id <= $2 AND event_id IS NULL
           ORDER BY id
           LIMIT $3`;
}

export async function readBatch(
  client: pg.ClientBase,
  table: TableRef,
  cursor: bigint,
  toId: bigint,
  limit: number,
): Promise<SourceRow[]> {
  const { rows } = await client.query<SourceRow>({
    text: readBatchSql(table),
    values: [cursor.toString(), toId.toString(), limit],
  });
  return rows;
}
