// Aggregates for `status`, the dashboard and metrics: one pass over the run's shards.
import type pg from 'pg';
import type { ShardStatus } from './types.js';

export interface RunProgress {
  shards: Record<ShardStatus, number>;
  rowsUpdated: number;
  rowsSkipped: number;
  estimatedRows: number;
  active: Array<{
    shardNo: number;
    worker: string | null;
    fromId: string;
    toId: string;
    checkpointId: string | null;
    rowsUpdated: number;
    updatedAt: Date;
    attempts: number;
  }>;
  lastErrors: Array<{
    shardNo: number;
    at: Date;
    toStatus: string;
    errorClass: string | null;
    message: string | null;
    worker: string | null;
  }>;
  failed: Array<{
    shardNo: number;
    lastError: string | null;
    lastErrorClass: string | null;
    attempts: number;
  }>;
}

export async function runProgress(client: pg.ClientBase, runId: number): Promise<RunProgress> {
  const counts = await client.query<{
    status: ShardStatus;
    n: number;
    updated: string;
    skipped: string;
    est: string;
  }>(
    `SELECT status, count(*)::int AS n, sum(rows_updated)::text AS updated, sum(rows_skipped)::text AS skipped,
            sum(estimated_rows)::text AS est
       FROM backfill_shards WHERE run_id = $1 GROUP BY status`,
    [runId],
  );
  const shards: Record<ShardStatus, number> = {
    queued: 0,
    running: 0,
    completed: 0,
    failed: 0,
    split: 0,
    cancelled: 0,
  };
  let rowsUpdated = 0;
  let rowsSkipped = 0;
  let estimatedRows = 0;
  for (const c of counts.rows) {
    shards[c.status] = c.n;
    rowsUpdated += Number(c.updated);
    rowsSkipped += Number(c.skipped);
    if (c.status !== 'split') estimatedRows += Number(c.est);
  }
  const active = await client.query(
    `SELECT shard_no, worker, from_id::text, to_id::text, checkpoint_id::text, rows_updated, updated_at, attempts
       FROM backfill_shards WHERE run_id = $1 AND status = 'running' ORDER BY shard_no LIMIT 50`,
    [runId],
  );
  const errors = await client.query(
    `SELECT shard_no, created_at, to_status, error_class, message, worker FROM backfill_shard_events
      WHERE run_id = $1 AND error_class IS NOT NULL ORDER BY id DESC LIMIT 5`,
    [runId],
  );
  const failed = await client.query(
    `SELECT shard_no, last_error, last_error_class, attempts FROM backfill_shards
      WHERE run_id = $1 AND status = 'failed' ORDER BY shard_no LIMIT 20`,
    [runId],
  );
  return {
    shards,
    rowsUpdated,
    rowsSkipped,
    estimatedRows,
    active: active.rows.map((r) => ({
      shardNo: r.shard_no,
      worker: r.worker,
      fromId: r.from_id,
      toId: r.to_id,
      checkpointId: r.checkpoint_id,
      rowsUpdated: Number(r.rows_updated),
      updatedAt: r.updated_at,
      attempts: r.attempts,
    })),
    lastErrors: errors.rows.map((r) => ({
      shardNo: r.shard_no,
      at: r.created_at,
      toStatus: r.to_status,
      errorClass: r.error_class,
      message: r.message,
      worker: r.worker,
    })),
    failed: failed.rows.map((r) => ({
      shardNo: r.shard_no,
      lastError: r.last_error,
      lastErrorClass: r.last_error_class,
      attempts: r.attempts,
    })),
  };
}
