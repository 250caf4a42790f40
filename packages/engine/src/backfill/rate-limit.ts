// Rows-per-second budgets. The engine asks for permission before each batch; the budget may be local
// (one process) or shared by every worker through Redis (see the worker app), both from
// rate-limiter-flexible so the two behave the same.
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { sleep } from '../db.js';

export interface RowRateLimiter {
  /** Resolves once `rows` may be written. */
  acquire(rows: number, signal?: AbortSignal): Promise<void>;
}

const ABORTED = Symbol('aborted');

/** `p`, or ABORTED as soon as `signal` aborts (p's outcome is then ignored). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T | typeof ABORTED> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      p.catch(() => {});
      resolve(ABORTED);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
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
          // A budget kept in Redis can hang with Redis (a partition): an abort must still get through.
          if ((await untilAborted(limiter.consume(key, take), signal)) === ABORTED) return;
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
