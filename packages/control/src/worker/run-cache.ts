// The worker's view of the active runs, refreshed from the ledger every poll interval. Every batch
// asks it whether to go on, so a pause or a cancel reaches a running shard within one poll.
import { ACTIVE_RUN_STATUSES, listRuns, type RunRow } from '@backfill/engine/ledger';
import type pg from 'pg';

export class RunCache {
  private runs = new Map<number, RunRow>();

  async refresh(pool: pg.Pool): Promise<RunRow[]> {
    const client = await pool.connect();
    try {
      const active = await listRuns(client, ACTIVE_RUN_STATUSES);
      this.runs = new Map(active.map((r) => [r.id, r]));
      return active;
    } finally {
      client.release();
    }
  }

  /** Undefined: the run is no longer active (completed, cancelled, finalized, failed). */
  get(runId: number): RunRow | undefined {
    return this.runs.get(runId);
  }
}
