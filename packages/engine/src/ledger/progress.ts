// Aggregates for `status`, the dashboard and metrics: one statement over the run's shards and events,
// whatever their number (each list is capped).
import type pg from 'pg';
import { SHARD_STATUSES, type ShardStatus } from './states.js';

export interface RunProgress {
  shards: Record<ShardStatus, number>;
  rowsUpdated: number;
  rowsSkipped: number;
  estimatedRows: number;
  /** Running shards (first 50). Timestamps are ISO 8601 strings: the read model is plain JSON. */
  active: Array<{
    shardNo: number;
    worker: string | null;
    fromId: string;
    toId: string;
    checkpointId: string | null;
    rowsUpdated: number;
    updatedAt: string;
    attempts: number;
    /** The batch size its worker uses now (adaptive sizing moves it); null before its first batch. */
    batchSize: number | null;
  }>;
  /** The last 5 transitions that carried an error. */
  lastErrors: Array<{
    shardNo: number;
    at: string;
    toStatus: string;
    errorClass: string | null;
    message: string | null;
    worker: string | null;
  }>;
  /** Failed shards (first 20). */
  failed: Array<{
    shardNo: number;
    lastError: string | null;
    lastErrorClass: string | null;
    attempts: number;
  }>;
  /** Worker processes serving the run, as their last heartbeat says (alive: heard from lately). */
  workers: Array<{
    workerId: string;
    heartbeatAt: string;
    ageSeconds: number;
    alive: boolean;
    host: string | null;
    pid: number | null;
    databaseReachable: boolean;
    /** Its shards of this run: batch size, rows, and the gate holding it (with when it began). */
    shards: Array<{
      shardNo: number;
      batchSize: number;
      rowsUpdated: number;
      since: string;
      held: HoldView | null;
    }>;
  }>;
  /** The last 10 run events (settings changes, pauses, holds), newest first. */
  events: Array<{ kind: string; message: string; details: Record<string, unknown> | null; at: string }>;
}

/** A gate holding a shard, as the worker reported it: what, how much against what, why, since when. */
export interface HoldView {
  gate: string;
  value: string;
  threshold: string;
  reason: string;
  /** ISO 8601. */
  since: string;
  /** A window: when it opens. */
  until?: string;
}

/** A heartbeat older than this is a worker that is gone (SIGKILL, a lost machine). */
export const WORKER_ALIVE_SECONDS = 15;

const PROGRESS_SQL = `
  SELECT
    (SELECT coalesce(json_agg(json_build_object('status', status, 'n', n, 'updated', updated,
                                                'skipped', skipped, 'est', est)), '[]')
       FROM (SELECT status, count(*) AS n, sum(rows_updated)::text AS updated,
                    sum(rows_skipped)::text AS skipped, sum(estimated_rows)::text AS est
               FROM backfill_shards WHERE run_id = $1 GROUP BY status) c) AS counts,
    (SELECT coalesce(json_agg(a ORDER BY a."shardNo"), '[]')
       FROM (SELECT shard_no AS "shardNo", worker, from_id::text AS "fromId", to_id::text AS "toId",
                    checkpoint_id::text AS "checkpointId", rows_updated AS "rowsUpdated",
                    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "updatedAt",
                    attempts, batch_size AS "batchSize"
               FROM backfill_shards WHERE run_id = $1 AND status = 'running' ORDER BY shard_no LIMIT 50) a) AS active,
    (SELECT coalesce(json_agg(e ORDER BY e.id DESC), '[]')
       FROM (SELECT id, shard_no AS "shardNo",
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
                    to_status AS "toStatus", error_class AS "errorClass", message, worker
               FROM backfill_shard_events
              WHERE run_id = $1 AND error_class IS NOT NULL ORDER BY id DESC LIMIT 5) e) AS errors,
    (SELECT coalesce(json_agg(f ORDER BY f."shardNo"), '[]')
       FROM (SELECT shard_no AS "shardNo", last_error AS "lastError", last_error_class AS "lastErrorClass", attempts
               FROM backfill_shards WHERE run_id = $1 AND status = 'failed' ORDER BY shard_no LIMIT 20) f) AS failed,
    (SELECT coalesce(json_agg(w ORDER BY w."workerId"), '[]')
       FROM (SELECT worker_id AS "workerId", info,
                    to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "heartbeatAt",
                    extract(epoch FROM now() - heartbeat_at)::float8 AS "ageSeconds"
               FROM backfill_workers
              WHERE heartbeat_at > now() - interval '1 hour' AND info -> 'runs' @> to_jsonb($1::bigint)) w) AS workers,
    (SELECT coalesce(json_agg(e ORDER BY e.id DESC), '[]')
       FROM (SELECT id, kind, message, details,
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
               FROM backfill_run_events WHERE run_id = $1 ORDER BY id DESC LIMIT 10) e) AS events`;

export async function runProgress(client: pg.ClientBase, runId: number): Promise<RunProgress> {
  const { rows } = await client.query(PROGRESS_SQL, [runId]);
  const r = rows[0];
  const shards = Object.fromEntries(SHARD_STATUSES.map((s) => [s, 0])) as Record<ShardStatus, number>;
  let rowsUpdated = 0;
  let rowsSkipped = 0;
  let estimatedRows = 0;
  for (const c of r.counts as Array<{
    status: ShardStatus;
    n: number;
    updated: string;
    skipped: string;
    est: string;
  }>) {
    shards[c.status] = Number(c.n);
    rowsUpdated += Number(c.updated);
    rowsSkipped += Number(c.skipped);
    if (c.status !== 'split') estimatedRows += Number(c.est);
  }
  return {
    shards,
    rowsUpdated,
    rowsSkipped,
    estimatedRows,
    active: (r.active as RunProgress['active']).map((a) => ({ ...a, rowsUpdated: Number(a.rowsUpdated) })),
    lastErrors: (r.errors as Array<RunProgress['lastErrors'][number] & { id?: number }>).map(
      ({ id: _id, ...e }) => e,
    ),
    failed: r.failed,
    workers: (r.workers as RawWorker[]).map((w) => toWorker(w, runId)),
    events: (r.events as Array<RunProgress['events'][number] & { id?: number }>).map(
      ({ id: _id, ...e }) => e,
    ),
  };
}

interface RawWorker {
  workerId: string;
  heartbeatAt: string;
  ageSeconds: number;
  info: {
    host?: string;
    pid?: number;
    databaseReachable?: boolean;
    shards?: Array<RunProgress['workers'][number]['shards'][number] & { runId: number }>;
  };
}

function toWorker(w: RawWorker, runId: number): RunProgress['workers'][number] {
  return {
    workerId: w.workerId,
    heartbeatAt: w.heartbeatAt,
    ageSeconds: Math.round(w.ageSeconds * 10) / 10,
    alive: w.ageSeconds <= WORKER_ALIVE_SECONDS,
    host: w.info.host ?? null,
    pid: w.info.pid ?? null,
    databaseReachable: w.info.databaseReachable ?? true,
    shards: (w.info.shards ?? []).filter((s) => s.runId === runId).map(({ runId: _r, ...s }) => s),
  };
}
