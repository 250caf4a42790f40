// Per-run row budgets shared by every worker (a token bucket in the queue transport: Redis, or
// PostgreSQL in postgres mode, that splits itself across however many replicas run), and the
// per-second counters `status` turns into rows/s. Both are keyed by the run's queue name, which is
// unique across the databases that may share one Redis and prefix (run ids are not: every ledger
// starts at 1).
import { type RowRateLimiter, rowLimiter, unlimited } from '@backfill/engine/backfill';
import { runQueueName } from '../queue/names.js';
import type { QueueTransport } from '../queue/transport.js';

type RunRef = { id: number; queue: string | null };

export class RunBudgets {
  private limiters = new Map<string, { rate: number; limiter: RowRateLimiter }>();

  constructor(private readonly transport: QueueTransport) {}

  /** The budget for a run at its current setting (rebuilt when the setting changes). */
  forRun(run: RunRef, rowsPerSecond: number): RowRateLimiter {
    const queue = runQueueName(run);
    if (rowsPerSecond <= 0) {
      this.limiters.delete(queue);
      return unlimited;
    }
    const known = this.limiters.get(queue);
    if (known && known.rate === rowsPerSecond) return known.limiter;
    const limiter = rowLimiter(this.transport.limiter(queue, rowsPerSecond), queue, rowsPerSecond);
    this.limiters.set(queue, { rate: rowsPerSecond, limiter });
    return limiter;
  }

  /** Forgets the budgets of runs no longer served (they hold nothing beyond a second). */
  prune(active: readonly RunRef[]): void {
    const keep = new Set(active.map(runQueueName));
    for (const queue of this.limiters.keys()) if (!keep.has(queue)) this.limiters.delete(queue);
  }

  /** Runs with a budget held here (for tests and metrics). */
  size(): number {
    return this.limiters.size;
  }

  /** Adds rows to this second's counter. Best effort: a lost count is only a metric. */
  count(run: RunRef, rows: number): void {
    if (rows > 0) this.transport.count(runQueueName(run), rows);
  }
}
