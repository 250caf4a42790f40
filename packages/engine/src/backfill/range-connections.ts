// The connections one range works on: a reader (keyset reads, ids computed as rows arrive) and its
// writers, every one set up with the range's limits; opened again with backoff after a loss, within the
// range's reconnect budget.
import type pg from 'pg';
import { sleep } from '../db.js';
import { BackfillError } from '../errors.js';
import type { Logger } from '../logger.js';
import { backoffDelay } from '../migrate/lock-retry.js';
import { setSilenceDeadline, silenceDeadline } from '../silence-watchdog.js';
import { isConnectionLost } from './retry-policy.js';

/** How much longer than statement_timeout a backfill session may sit idle inside a transaction. */
export const IDLE_IN_TRANSACTION_MARGIN_MS = 5000;

/** How long a range keeps reconnecting to a database it lost before giving up (reconnectBudgetMs). */
export const DEFAULT_RECONNECT_BUDGET_MS = 60_000;

/** The connection kept dropping, or could not be made again in time. Retryable: the range resumes from its checkpoint. */
export class ConnectionLostError extends BackfillError {
  override readonly kind = 'unavailable';
  override readonly retryable = true;
}

export interface Conns {
  reader: pg.PoolClient;
  /** Empty in a dry run. */
  writers: pg.PoolClient[];
}

export interface ConnOptions {
  pool: pg.Pool;
  /** Writers to open (none for a dry run). */
  writers: number;
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  reconnectBudgetMs?: number;
}

export async function openConns(o: ConnOptions): Promise<Conns> {
  const reader = await o.pool.connect();
  const writers: pg.PoolClient[] = [];
  try {
    for (let i = 0; i < o.writers; i++) writers.push(await o.pool.connect());
    const settings: string[] = [];
    if (o.statementTimeoutMs !== undefined)
      settings.push(`SET statement_timeout = ${Math.trunc(o.statementTimeoutMs)}`);
    if (o.lockTimeoutMs !== undefined) settings.push(`SET lock_timeout = ${Math.trunc(o.lockTimeoutMs)}`);
    // A transaction whose client vanished (a partition, a frozen process) is rolled back by the server
    // after this long, releasing the rows it locked: the bound on how long the backfill can hold a row.
    if (o.statementTimeoutMs !== undefined)
      settings.push(
        `SET idle_in_transaction_session_timeout = ${Math.trunc(o.statementTimeoutMs) + IDLE_IN_TRANSACTION_MARGIN_MS}`,
      );
    if (settings.length) {
      for (const c of [reader, ...writers]) await c.query(settings.join('; '));
    }
    if (o.statementTimeoutMs !== undefined) {
      const deadline = silenceDeadline(o.statementTimeoutMs);
      for (const c of [reader, ...writers]) setSilenceDeadline(c, deadline);
    }
    return { reader, writers };
  } catch (err) {
    reader.release(true);
    for (const w of writers) w.release(true);
    throw err;
  }
}

export function closeConns(c: Conns, broken: boolean): void {
  c.reader.release(broken);
  for (const w of c.writers) w.release(broken);
}

/**
 * Opens the range's connections again after a loss, with backoff, until `deadline` (epoch ms): then
 * the database is given up on with ConnectionLostError (kind "unavailable").
 */
export async function reopenConns(o: ConnOptions, log: Logger, deadline: number): Promise<Conns> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openConns(o);
    } catch (err) {
      if (!isConnectionLost(err)) throw err;
      const delay = backoffDelay(attempt, 500, 10_000);
      if (Date.now() + delay > deadline) throw outageError(err, o);
      log.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot reconnect to the database yet');
      await sleep(delay);
    }
  }
}

export function outageError(err: unknown, o: { reconnectBudgetMs?: number }): ConnectionLostError {
  const budget = Math.round((o.reconnectBudgetMs ?? DEFAULT_RECONNECT_BUDGET_MS) / 1000);
  return new ConnectionLostError(
    `PostgreSQL could not be reached again within ${budget}s (the reconnect budget): ${(err as Error).message}`,
    { cause: err },
  );
}
