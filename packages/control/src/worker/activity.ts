// What this worker process is doing right now, for its heartbeat row (backfill_workers) and so for
// status and the dashboard: the shards it works on, each one's batch size and rows, and the gate
// holding it, if any.
import type { Hold } from '@backfill/engine/health';

export interface ShardActivity {
  runId: number;
  shardNo: number;
  /** ISO 8601. */
  since: string;
  batchSize: number;
  rowsUpdated: number;
  /** The gate holding the shard, with when the hold began (ISO 8601). */
  held: (Hold & { since: string }) | null;
}

export class WorkerActivity {
  private readonly shards = new Map<string, ShardActivity>();

  begin(runId: number, shardNo: number, batchSize: number): ShardActivity {
    const a: ShardActivity = {
      runId,
      shardNo,
      since: new Date().toISOString(),
      batchSize,
      rowsUpdated: 0,
      held: null,
    };
    this.shards.set(`${runId}:${shardNo}`, a);
    return a;
  }

  end(a: ShardActivity): void {
    this.shards.delete(`${a.runId}:${a.shardNo}`);
  }

  /** A hold began or changed (keeps its start while the same gate holds), or ended (null). */
  hold(a: ShardActivity, hold: Hold | null): void {
    if (!hold) a.held = null;
    else a.held = { ...hold, since: a.held?.gate === hold.gate ? a.held.since : new Date().toISOString() };
  }

  list(): ShardActivity[] {
    return [...this.shards.values()];
  }
}
