// The live feed: one poller per dashboard process, shared by every open page and every list request.
// Each tick reads the status of every run once (a fixed number of statements per run, whatever the
// number of shards) and the workers once, however many clients watch; clients get the same snapshot
// over server-sent events. Nobody watching and nothing asked: no tick.

import type { ControlContext } from '@backfill/control';
import { type RunStatusReport, readAllRunStatuses } from '@backfill/control';
import { listWorkers, type WorkerRow } from '@backfill/engine/ledger';

export interface Snapshot {
  /** ISO 8601. */
  at: string;
  runs: RunStatusReport[];
  workers: WorkerRow[];
}

type Listener = (s: Snapshot) => void;

export class LiveFeed {
  private snapshot: Snapshot | null = null;
  private reading: Promise<Snapshot> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<Listener>();
  /** Ticks read so far (the bench and the tests count the feed's database work with it). */
  ticks = 0;

  constructor(
    private readonly ctx: ControlContext,
    private readonly intervalMs = 1000,
    private readonly onSnapshot: (s: Snapshot) => void = () => {},
  ) {}

  /** The latest snapshot, read again if older than the interval (one read at a time). */
  async current(): Promise<Snapshot> {
    if (this.snapshot && Date.now() - Date.parse(this.snapshot.at) < this.intervalMs) return this.snapshot;
    this.reading ??= this.read().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    if (this.listeners.size === 1) this.loop();
    if (this.snapshot) fn(this.snapshot);
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) clearTimeout(this.timer);
    };
  }

  subscribers(): number {
    return this.listeners.size;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.listeners.clear();
  }

  private loop(): void {
    clearTimeout(this.timer);
    void this.current()
      .then((s) => {
        for (const l of this.listeners) l(s);
      })
      .catch(() => {})
      .finally(() => {
        if (this.listeners.size > 0) this.timer = setTimeout(() => this.loop(), this.intervalMs);
      });
  }

  private async read(): Promise<Snapshot> {
    this.ticks++;
    const [runs, workers] = [await readAllRunStatuses(this.ctx), await listWorkers(this.ctx.db, 3600)];
    this.snapshot = { at: new Date().toISOString(), runs, workers };
    this.onSnapshot(this.snapshot);
    return this.snapshot;
  }
}
