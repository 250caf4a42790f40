// Rows-per-second budgets. The engine asks for permission before each batch; the budget may be local
// (one process) or shared by every worker through Redis (see the worker app), both from
// rate-limiter-flexible so the two behave the same.
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { sleep } from '../db.js';

export interface RowRateLimiter {
  /** Resolves once `rows` may be written. */
  acquire(rows: number, signal?: AbortSignal): Promise<void>;
}

export const unlimited: RowRateLimiter = { acquire: async () => {} };

/**
 * Wraps any rate-limiter-flexible limiter whose points are rows and whose window is one second.
 * A batch larger than one second's budget is taken in slices, so it simply waits longer.
 */
export function rowLimiter(limiter: RateLimiterAbstract, key: string, rowsPerSecond: number): RowRateLimiter {
  return {
    async acquire(rows, signal) {
      let left = rows;
      while (left > 0) {
        if (signal?.aborted) return;
        const take = Math.min(left, rowsPerSecond);
        try {
          await limiter.consume(key, take);
          left -= take;
        } catch (err) {
          if (!(err instanceof RateLimiterRes)) throw err;
          await sleep(Math.max(5, err.msBeforeNext));
        }
      }
    },
  };
}

/** A budget for this process alone; 0 means unlimited. */
export function localRowLimiter(rowsPerSecond: number): RowRateLimiter {
  if (rowsPerSecond <= 0) return unlimited;
  return rowLimiter(new RateLimiterMemory({ points: rowsPerSecond, duration: 1 }), 'rows', rowsPerSecond);
}
