// Test databases: each test file gets its own database so files can run in parallel. Every database made
// here is dropped when the test file ends (test-support/drop-databases.ts, a vitest setupFile).
import { createHash } from 'node:crypto';
import pg from 'pg';

export const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Unique per test run (the run's process id): every database name starts `bf_<tag>_`. */
    bfRunTag: string;
    /** Name of the database the global setup migrated to head, to copy with CREATE DATABASE … TEMPLATE. */
    bfMigratedTemplate: string;
  }
}

/** Every database a run makes is named `bf_<tag>_…`, so two runs (two checkouts) never touch each other's. */
export const RUN_DB_PREFIX = /^bf_r(\d+)_/;
export const runTagFor = (pid: number) => `r${pid}`;

export function testDatabaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

// Databases this test file created, dropped by dropCreatedDatabases() in the file's last afterAll.
const created = new Set<string>();

/** Have database `nameOrUrl` (a name or a URL) dropped when the test file ends, e.g. one a command made. */
export function dropWhenFileEnds(nameOrUrl: string): void {
  created.add(/^postgres(ql)?:\/\//.test(nameOrUrl) ? new URL(nameOrUrl).pathname.slice(1) : nameOrUrl);
}

/** DROP DATABASE … WITH (FORCE) for every database registered in this file: open pools cannot stop it. */
export async function dropCreatedDatabases(): Promise<void> {
  if (created.size === 0) return;
  const names = [...created];
  created.clear();
  await withClient(ADMIN_URL, async (admin) => {
    for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
}

const NO_GLOBAL_SETUP =
  'no test run context: run the tests with the root vitest.config.ts (its globalSetup provides it)';

/** `bf_<run tag>_test_<name>`, within PostgreSQL's 63-byte identifier limit. */
async function dbNameFor(name: string): Promise<string> {
  const { inject } = await import('vitest');
  const tag = inject('bfRunTag');
  if (!tag) throw new Error(NO_GLOBAL_SETUP);
  const dbName = `bf_${tag}_test_${name.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}`;
  if (dbName.length <= 63) return dbName;
  const hash = createHash('sha1').update(dbName).digest('hex').slice(0, 8);
  return `${dbName.slice(0, 54)}_${hash}`;
}

async function recreate(dbName: string, template?: string): Promise<string> {
  dropWhenFileEnds(dbName);
  await withClient(ADMIN_URL, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`);
    await admin.query(
      `CREATE DATABASE ${quoteIdent(dbName)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`,
    );
  });
  return testDatabaseUrl(dbName);
}

/** Drops and re-creates database `bf_<run tag>_test_<name>`, empty; returns its URL. */
export async function freshDatabase(name: string): Promise<string> {
  return recreate(await dbNameFor(name));
}

/**
 * Drops and re-creates database `bf_<run tag>_test_<name>` as a copy of the template the global setup
 * migrated to head (`migrateUp` with index 'concurrent' and DEFAULT_LOCK_POLICY); returns its URL.
 */
export async function migratedDatabase(name: string): Promise<string> {
  const { inject } = await import('vitest');
  const template = inject('bfMigratedTemplate');
  if (!template) throw new Error(NO_GLOBAL_SETUP);
  return recreate(await dbNameFor(name), template);
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
