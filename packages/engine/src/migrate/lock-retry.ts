// Retrying DDL that needs a lock: each try waits at most lock_timeout, so a long transaction on the
// table never queues application traffic behind our ALTER for longer than that.

import { sleep } from '../db.js';
import { LockTimeoutError, PgCode, pgCodeOf } from '../errors.js';
import type { Logger } from '../logger.js';

export interface LockRetryOptions {
  /** What is being attempted, for logs and the final error ("add column run_logs.event_id"). */
  what: string;
  attempts: number;
  lockTimeoutMs: number;
  /** First backoff; doubles each try, capped at maxDelayMs, with ±25% jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  logger: Logger;
}

export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(exp * (0.75 + random() * 0.5));
}

export async function withLockRetries<T>(
  opts: LockRetryOptions,
  fn: (attempt: number) => Promise<T>,
): Promise<T> {
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 15_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (pgCodeOf(err) !== PgCode.lockNotAvailable) throw err;
      if (attempt >= opts.attempts) {
        throw new LockTimeoutError(
          `${opts.what}: could not get the lock within lock_timeout=${opts.lockTimeoutMs}ms on any of ` +
            `${opts.attempts} tries. A long-running transaction holds a conflicting lock on the table: ` +
            'find it in pg_stat_activity (or pg_locks), end it or wait for it, then run the command again ' +
            '(it is safe to re-run). --lock-timeout and --lock-retries change the budget.',
          { cause: err },
        );
      }
      const delay = backoffDelay(attempt, base, max);
      opts.logger.warn(
        {
          what: opts.what,
          attempt,
          attempts: opts.attempts,
          lockTimeoutMs: opts.lockTimeoutMs,
          retryInMs: delay,
        },
        `${opts.what}: lock not available within ${opts.lockTimeoutMs}ms (try ${attempt}/${opts.attempts}); retrying in ${delay}ms`,
      );
      await sleep(delay);
    }
  }
}
