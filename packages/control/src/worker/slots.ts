// A worker's shards in flight, across every run it serves, never exceed --concurrency: its connection
// pool is sized for that many (each shard takes a reader and its writers). Each run's BullMQ Worker gets
// a share of the slots as its own concurrency, so jobs rarely wait; the semaphore holds the line when
// more runs are served than there are slots.
export class ShardSlots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }

  /** Each of `runs` runs' BullMQ concurrency: the slots shared out, at least one each. */
  shareFor(runs: number): number {
    return Math.max(1, Math.floor(this.size / Math.max(1, runs)));
  }

  inUse(): number {
    return this.size - this.free;
  }
}

/**
 * A run's shards this worker takes at once so that the run's parallelism spreads over the fleet: its
 * share of `parallelism` among the `liveWorkers` (rounded up, at least 1); no cap when the run has
 * none (0). Without it, the first worker to fetch took as many shards as its slots allowed and, as it
 * fetches the next job in the same step that completes one, kept them: two workers under parallelism 2
 * ran both shards in one process while the other stood idle.
 */
export function spreadCap(parallelism: number, liveWorkers: number): number {
  if (parallelism <= 0) return Number.POSITIVE_INFINITY;
  return Math.max(1, Math.ceil(parallelism / Math.max(1, liveWorkers)));
}
