// --on-bad-row=skip: rows whose event id cannot be computed are recorded and left NULL.
import type pg from 'pg';
import type { TableRef } from '../db.js';
import type { BadRow } from './compute.js';

export async function recordBadRows(
  client: pg.ClientBase,
  table: TableRef,
  bad: BadRow[],
  runName: string | null,
): Promise<void> {
  if (bad.length === 0) return;
  await client.query(
    `INSERT INTO backfill_errors (table_name, row_id, reason, run_name)
     SELECT $1, b.id, b.reason, $4 FROM unnest($2::bigint[], $3::text[]) AS b(id, reason)
     ON CONFLICT (table_name, row_id) DO UPDATE
        SET reason = EXCLUDED.reason, run_name = EXCLUDED.run_name, created_at = now()`,
    [`${table.schema}.${table.name}`, bad.map((b) => b.id), bad.map((b) => b.reason), runName],
  );
}
