// Per-run row budgets shared by every worker (a Redis token bucket that splits itself across however
// many replicas run), and the per-second counters `status` turns into rows/s.
import { type RowRateLimiter, rowLimiter, unlimited } from '@backfill/engine/backfill';
import type { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { rateKey } from '../queue/names.js';

export class RunBudgets {
  private limiters = new Map<number, { rate: number; limiter: RowRateLimiter }>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** The budget for a run at its current setting (rebuilt when the setting changes). */
  forRun(runId: number, rowsPerSecond: number): RowRateLimiter {
    if (rowsPerSecond <= 0) return unlimited;
    const known = this.limiters.get(runId);
    if (known && known.rate === rowsPerSecond) return known.limiter;
    const store = new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix: `${this.prefix}:budget`,
      points: rowsPerSecond,
      duration: 1,
    });
    const limiter = rowLimiter(store, `run-${runId}`, rowsPerSecond);
    this.limiters.set(runId, { rate: rowsPerSecond, limiter });
    return limiter;
  }

  /** Adds rows to this second's counter (kept three minutes). Best effort: a lost count is only a metric. */
  count(runId: number, rows: number): void {
    if (rows <= 0) return;
    const key = rateKey(this.prefix, runId, Math.floor(Date.now() / 1000));
    this.redis
      .multi()
      .incrby(key, rows)
      .expire(key, 180)
      .exec()
      .catch(() => {});
  }
}
