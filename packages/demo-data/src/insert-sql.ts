// The one statement each batch runs: `INSERT … SELECT * FROM unnest(…)` takes a whole batch as one array
// parameter per column (far fewer parameters and round trips than multi-row VALUES), and reports the
// id range it used so the caller needs no second query.

import { qualified, quoteIdent, type TableRef } from '@backfill/engine/db';

const COLUMNS = ['run_id', 'timestamp', 'level', 'event_type', 'message', 'data'] as const;
const TYPES = ['uuid', 'timestamptz', 'text', 'text', 'text', 'jsonb'] as const;

export function insertSql(table: TableRef, sparse: boolean): string {
  const cols = sparse ? ['id', ...COLUMNS] : [...COLUMNS];
  const types = sparse ? ['bigint', ...TYPES] : [...TYPES];
  const id = quoteIdent('id');
  return (
    `WITH ins AS (INSERT INTO ${qualified(table)} (${cols.map(quoteIdent).join(', ')}) ` +
    `SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) RETURNING ${id}) ` +
    `SELECT min(${id})::text AS min_id, max(${id})::text AS max_id, count(*)::int AS n FROM ins`
  );
}
