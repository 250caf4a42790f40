// The legacy run_logs table as the old tool created it (no `event_id`): demo data must look like what
// production has before our migration runs.

import { qualified, quoteIdent, RUN_LOGS, type TableRef } from '@backfill/engine/db';

/** run_logs as the legacy tool created it, before our migration adds `event_id`. */
export function legacyRunLogsDdl(table: TableRef = RUN_LOGS): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(table)} (
  ${quoteIdent('id')} bigserial PRIMARY KEY,
  ${quoteIdent('run_id')} uuid NOT NULL,
  ${quoteIdent('timestamp')} timestamptz NOT NULL DEFAULT now(),
  ${quoteIdent('level')} text NOT NULL DEFAULT 'info',
  ${quoteIdent('event_type')} text NOT NULL,
  ${quoteIdent('message')} text,
  ${quoteIdent('data')} jsonb
)`;
}

export const LEGACY_RUN_LOGS_DDL: string = legacyRunLogsDdl(RUN_LOGS);
