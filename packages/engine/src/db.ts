// PostgreSQL connections: clear errors when the server is unreachable, and creating the target
// database when it does not exist yet.
import pg from 'pg';
import { redactUrl } from './config.js';
import { isConnectionFailure, PgCode, pgCodeOf, UnavailableError, UsageError } from './errors.js';
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

const LOGIN_REFUSED = new Set(['28P01', '28000']); // invalid_password, invalid_authorization_specification
const NOT_ACCEPTING = new Set(['57P03', '53300']); // cannot_connect_now (starting up), too_many_connections

/**
 * A failure to connect, as an error an operator can act on: unreachable, login refused or not accepting
 * connections now → UnavailableError (exit 3); no such database → UsageError (exit 2). Anything else is
 * returned as it is.
 */
export function connectFailure(url: string, err: unknown): unknown {
  const u = new URL(url);
  const where = `${u.hostname}:${u.port || 5432}`;
  const reason = (err as Error)?.message || String(err);
  const code = pgCodeOf(err);
  if (code && LOGIN_REFUSED.has(code)) {
    return new UnavailableError(
      `PostgreSQL at ${where} refused the login of user "${decodeURIComponent(u.username) || 'postgres'}" (${reason}): ` +
        "check the user and password in DATABASE_URL and the server's pg_hba.conf",
      { cause: err },
    );
  }
  if (code && NOT_ACCEPTING.has(code)) {
    return new UnavailableError(
      `PostgreSQL at ${where} is not accepting connections now (${reason}): try again once it is up`,
      { cause: err },
    );
  }
  if (code === PgCode.invalidCatalogName) {
    return new UsageError(
      `database "${databaseName(url)}" does not exist on ${where}: check DATABASE_URL, ` +
        'or create it (`backfill migrate --create-database`)',
      { cause: err },
    );
  }
  if (isConnectionLostMessage(err) || isConnectionFailure(err)) return unreachable(url, err);
  return err;
}

const isConnectionLostMessage = (err: unknown) =>
  /timeout exceeded when trying to connect|Connection terminated/i.test((err as Error)?.message ?? '');

/** The database a URL names (decoded). */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

export async function connectClient(url: string, options: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, ...options });
  try {
    await client.connect();
  } catch (err) {
    throw connectFailure(url, err);
  }
  // A server-side termination (pg_terminate_backend) surfaces as an 'error' event; without a
  // listener it would crash the process instead of failing the query in flight.
  client.on('error', () => {});
  return client;
}

/** `fn` with a client of the pool, released after (also when `fn` throws). */
export async function withPoolClient<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    return await fn(c);
  } finally {
    c.release();
  }
}

/** A pooled client, with connect failures explained (see connectFailure). */
export async function connectPooled(pool: pg.Pool, url: string): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (err) {
    throw connectFailure(url, err);
  }
}

export function createPool(url: string, options: Partial<pg.PoolConfig> = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4, ...options });
  pool.on('error', () => {}); // idle client terminated by the server: the pool replaces it
  // A checked-out client whose backend is terminated emits 'error' too; without a listener that
  // crashes the process. The query in flight fails on its own, and the callers reconnect.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** The same server, database `postgres`: where databases are created and dropped. */
export function adminUrl(url: string): string {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  return admin.toString();
}

/**
 * Makes sure the database named in `url` exists. Only with `create` is a missing one created (and
 * `comment` put on it, e.g. to mark it as the demo's own): a mistyped DATABASE_URL must not quietly get
 * an empty database. Throws UsageError for a missing database without `create`, UnavailableError when
 * the server cannot be reached or refuses the login.
 */
export async function ensureDatabase(
  url: string,
  logger: Logger,
  opts: { create?: boolean; comment?: string } = {},
): Promise<'existed' | 'created'> {
  try {
    const c = await connectClient(url);
    await c.end();
    return 'existed';
  } catch (err) {
    if (!opts.create || pgCodeOf(err) !== PgCode.invalidCatalogName) throw err;
  }
  const dbName = databaseName(url);
  const c = await connectClient(adminUrl(url));
  try {
    await c.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
    if (opts.comment !== undefined)
      await c.query(`COMMENT ON DATABASE ${quoteIdent(dbName)} IS ${pg.escapeLiteral(opts.comment)}`);
    logger.info({ database: dbName, url: redactUrl(url) }, `database ${dbName} did not exist: created it`);
    return 'created';
  } catch (err) {
    // Another process may have created it between our two connections.
    if (pgCodeOf(err) !== '42P04') throw err;
    return 'existed';
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
