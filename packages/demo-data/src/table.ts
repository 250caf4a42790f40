// The target table: created with the legacy DDL when missing, so `demo-data` works on an empty database,
// and database errors translated when an existing table is not a legacy run_logs, so the operator sees
// why rather than a bare SQLSTATE.

import { qualified, type TableRef } from '@backfill/engine/db';
import { PgCode, pgCodeOf, SchemaError } from '@backfill/engine/errors';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';
import { legacyRunLogsDdl } from './ddl.js';

async function tableExists(c: pg.ClientBase, table: TableRef): Promise<boolean> {
  const res = await c.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [
    qualified(table),
  ]);
  return res.rows[0]?.oid != null;
}

/** Creates `table` with the legacy DDL unless it exists; true when it had to. */
export async function ensureLegacyTable(c: pg.ClientBase, table: TableRef, logger: Logger): Promise<boolean> {
  if (await tableExists(c, table)) return false;
  await c.query(legacyRunLogsDdl(table));
  logger.info(
    { table: qualified(table) },
    `table ${qualified(table)} did not exist: created it (legacy DDL)`,
  );
  return true;
}

export function schemaProblem(err: unknown, table: TableRef): Error {
  const code = pgCodeOf(err);
  const what = qualified(table);
  if (code === PgCode.undefinedColumn || code === '42804' /* datatype_mismatch */) {
    return new SchemaError(`${what} does not look like run_logs: ${(err as Error).message}`, { cause: err });
  }
  if (code === '23502' /* not_null_violation */) {
    return new SchemaError(
      `${what} rejects legacy rows (no event_id): ${(err as Error).message}. ` +
        'Demo data must be inserted before event_id becomes NOT NULL.',
      { cause: err },
    );
  }
  return err as Error;
}
