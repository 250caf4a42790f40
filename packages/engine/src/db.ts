// PostgreSQL connections: clear errors when the server is unreachable, and creating the target
// database when it does not exist yet.
import pg from 'pg';
import { redactUrl } from './config.js';
import { isConnectionFailure, PgCode, pgCodeOf, UnavailableError } from './errors.js';
import type { Logger } from './logger.js';

// int8 (bigint ids) stays a string: JS numbers lose precision past 2^53.
// jsonb/json keep pg's default JSON.parse (event-id v1 is defined on that).

export interface TableRef {
  schema: string;
  name: string;
}

export const RUN_LOGS: TableRef = { schema: 'public', name: 'run_logs' };

export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}

export function qualified(t: TableRef): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

export function unreachable(url: string, err: unknown): UnavailableError {
  const u = new URL(url);
  const reason = (err as Error)?.message || String(err);
  return new UnavailableError(
    `cannot reach PostgreSQL at ${u.hostname}:${u.port || 5432} (${reason}). ` +
      'Start it (`docker compose up -d postgres`) or point DATABASE_URL at a running server.',
    { cause: err },
  );
}

export async function connectClient(url: string, options: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, ...options });
  try {
    await client.connect();
  } catch (err) {
    if (isConnectionFailure(err)) throw unreachable(url, err);
    throw err;
  }
  // A server-side termination (pg_terminate_backend) surfaces as an 'error' event; without a
  // listener it would crash the process instead of failing the query in flight.
  client.on('error', () => {});
  return client;
}

export function createPool(url: string, options: Partial<pg.PoolConfig> = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4, ...options });
  pool.on('error', () => {}); // idle client terminated by the server: the pool replaces it
  // A checked-out client whose backend is terminated emits 'error' too; without a listener that
  // crashes the process. The query in flight fails on its own, and the callers reconnect.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * Makes sure the database named in `url` exists, creating it (and saying so) when it does not.
 * Throws UnavailableError when the server cannot be reached at all.
 */
export async function ensureDatabase(url: string, logger: Logger): Promise<void> {
  try {
    const c = await connectClient(url);
    await c.end();
    return;
  } catch (err) {
    if (pgCodeOf(err) !== PgCode.invalidCatalogName) throw err;
  }
  const target = new URL(url);
  const dbName = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const c = await connectClient(admin.toString());
  try {
    await c.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
    logger.info({ database: dbName, url: redactUrl(url) }, `database ${dbName} did not exist: created it`);
  } catch (err) {
    // Another process may have created it between our two connections.
    if (pgCodeOf(err) !== '42P04') throw err;
  } finally {
    await c.end();
  }
}

export {
  SessionSilentError,
  SILENCE_MARGIN_MS,
  setSilenceDeadline,
  silenceDeadline,
  watchSilence,
} from './silence-watchdog.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
