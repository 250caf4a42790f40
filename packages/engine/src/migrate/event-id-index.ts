// ix_run_logs_event_id, built with CREATE INDEX CONCURRENTLY outside any transaction. A failed
// concurrent build leaves an INVALID index behind (pg_index.indisvalid = false) that still costs every
// write and serves no read: it is detected, dropped concurrently and rebuilt.

import { EVENT_ID_INDEX_NAME } from '@backfill/shared';
import type pg from 'pg';
import { qualified, quoteIdent, type TableRef } from '../db.js';
import type { Logger } from '../logger.js';
import { withLockRetries } from './lock-retry.js';

export interface IndexState {
  exists: boolean;
  valid: boolean;
  definition?: string;
}

export async function eventIdIndexState(client: pg.ClientBase, table: TableRef): Promise<IndexState> {
  const { rows } = await client.query<{ valid: boolean; def: string }>(
    `SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [table.schema, EVENT_ID_INDEX_NAME],
  );
  const row = rows[0];
  return row ? { exists: true, valid: row.valid, definition: row.def } : { exists: false, valid: false };
}

export type IndexAction = 'already-valid' | 'built' | 'rebuilt-invalid';

export interface EnsureIndexOptions {
  table: TableRef;
  lockTimeoutMs: number;
  attempts: number;
  logger: Logger;
}

/** The client must not be inside a transaction (CONCURRENTLY forbids it). */
export async function ensureEventIdIndex(
  client: pg.ClientBase,
  opts: EnsureIndexOptions,
): Promise<IndexAction> {
  const { table, logger } = opts;
  const indexName = `${quoteIdent(table.schema)}.${quoteIdent(EVENT_ID_INDEX_NAME)}`;
  let repaired = false;
  await client.query(`SET lock_timeout = ${Number(opts.lockTimeoutMs)}`);
  await client.query('SET statement_timeout = 0'); // a big table's build takes as long as it takes
  const action = await withLockRetries(
    {
      what: `build index ${EVENT_ID_INDEX_NAME}`,
      attempts: opts.attempts,
      lockTimeoutMs: opts.lockTimeoutMs,
      logger,
    },
    async (attempt) => {
      const state = await eventIdIndexState(client, table);
      if (state.exists && state.valid) return repaired ? 'rebuilt-invalid' : 'already-valid';
      if (state.exists) {
        // On later tries the invalid index is our own interrupted build, not a leftover to report.
        if (attempt === 1) repaired = true;
        logger.warn(
          { index: EVENT_ID_INDEX_NAME, definition: state.definition },
          `index ${EVENT_ID_INDEX_NAME} is INVALID (left by a failed concurrent build): dropping it concurrently and rebuilding`,
        );
        await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${indexName}`);
      }
      const started = Date.now();
      logger.info({ index: EVENT_ID_INDEX_NAME }, `building index ${EVENT_ID_INDEX_NAME} concurrently`);
      await client.query(
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(EVENT_ID_INDEX_NAME)} ON ${qualified(table)} (event_id)`,
      );
      logger.info(
        { index: EVENT_ID_INDEX_NAME, ms: Date.now() - started },
        `index ${EVENT_ID_INDEX_NAME} built`,
      );
      return 'retry-check' as const;
    },
  );
  if (action !== 'retry-check') return action;
  // A build that failed part-way leaves an invalid index; report the truth, never assume.
  const state = await eventIdIndexState(client, table);
  if (!state.valid) {
    throw new Error(`index ${EVENT_ID_INDEX_NAME} is still invalid after CREATE INDEX CONCURRENTLY`);
  }
  return repaired ? 'rebuilt-invalid' : 'built';
}

export async function dropEventIdIndex(client: pg.ClientBase, opts: EnsureIndexOptions): Promise<boolean> {
  const indexName = `${quoteIdent(opts.table.schema)}.${quoteIdent(EVENT_ID_INDEX_NAME)}`;
  await client.query(`SET lock_timeout = ${Number(opts.lockTimeoutMs)}`);
  return withLockRetries(
    {
      what: `drop index ${EVENT_ID_INDEX_NAME}`,
      attempts: opts.attempts,
      lockTimeoutMs: opts.lockTimeoutMs,
      logger: opts.logger,
    },
    async () => {
      const state = await eventIdIndexState(client, opts.table);
      if (!state.exists) return false;
      await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${indexName}`);
      return true;
    },
  );
}
