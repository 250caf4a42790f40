// drizzle's migrator, under lock_timeout with retries. drizzle applies every pending file in ONE
// transaction, so a lock timeout rolls all of them back and the whole step is simply tried again.
import { MIGRATIONS_FOLDER, readJournal } from '@backfill/shared';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { withLockRetries } from './lock-retry.js';

export const MIGRATIONS_SCHEMA = 'drizzle';
export const MIGRATIONS_TABLE = '__drizzle_migrations';

/** The timestamp (journal `when`) of the newest applied migration, or null on a fresh database. */
export async function lastAppliedMigration(client: pg.ClientBase): Promise<number | null> {
  const { rows } = await client.query<{ exists: boolean }>(
    `SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists`,
  );
  if (!rows[0]?.exists) return null;
  const last = await client.query<{ created_at: string }>(
    'SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1',
  );
  return last.rows[0] ? Number(last.rows[0].created_at) : null;
}

/** Tags of the committed migrations not applied yet, in order. */
export async function pendingMigrations(client: pg.ClientBase): Promise<string[]> {
  const last = await lastAppliedMigration(client);
  return readJournal()
    .filter((e) => last === null || e.when > last)
    .map((e) => e.tag);
}

export interface ApplyOptions {
  lockTimeoutMs: number;
  attempts: number;
  logger: Logger;
}

/** Applies pending migrations; returns the tags applied (empty when already at head). */
export async function applySchemaMigrations(client: pg.Client, opts: ApplyOptions): Promise<string[]> {
  const pending = await pendingMigrations(client);
  if (pending.length === 0) return [];
  await client.query(`SET lock_timeout = ${Number(opts.lockTimeoutMs)}`);
  const db = drizzle({ client });
  await withLockRetries(
    {
      what: `apply migrations ${pending.join(', ')}`,
      attempts: opts.attempts,
      lockTimeoutMs: opts.lockTimeoutMs,
      logger: opts.logger,
    },
    () =>
      migrate(db, {
        migrationsFolder: MIGRATIONS_FOLDER,
        migrationsSchema: MIGRATIONS_SCHEMA,
        migrationsTable: MIGRATIONS_TABLE,
      }),
  );
  return pending;
}
