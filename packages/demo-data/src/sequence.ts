// Keeping the table's id sequence and explicit sparse ids out of each other's way: sparse ids start past
// everything already used, and afterwards the sequence is moved past them so later ordinary inserts do
// not collide.

import { qualified, quoteIdent, type TableRef } from '@backfill/engine/db';
import type pg from 'pg';

/** pg_get_serial_sequence's arguments for the table's `id` column. */
const seqArgs = (table: TableRef): string[] => [qualified(table), 'id'];

/** The highest id in the table or ever handed out by its sequence (0 when none). */
export async function highestIdUsed(client: pg.ClientBase, table: TableRef): Promise<number> {
  const res = await client.query<{ after: string }>(
    `SELECT greatest(
           (SELECT coalesce(max(${quoteIdent('id')}), 0) FROM ${qualified(table)}),
           coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass), 0)
         )::text AS after`,
    seqArgs(table),
  );
  return Number(res.rows[0]!.after);
}

/**
 * Moves the sequence past the highest id (never backwards). Also runs after a failed batch (the
 * committed ones stay); then its own error is swallowed so the original error is what gets reported.
 */
export async function advanceSequence(
  client: pg.ClientBase,
  table: TableRef,
  failed: boolean,
): Promise<void> {
  await client
    .query(
      `SELECT setval(s, m) FROM (
               SELECT s, greatest((SELECT max(${quoteIdent('id')}) FROM ${qualified(table)}), pg_sequence_last_value(s)) AS m
               FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS s) AS seq
             ) AS x WHERE s IS NOT NULL AND m IS NOT NULL`,
      seqArgs(table),
    )
    .catch((err: unknown) => {
      if (!failed) throw err;
    });
}
