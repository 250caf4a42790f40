// Shard state changes. Every change writes a transition row (backfill_shard_events) in the same
// transaction, with the worker and the error class and message: the audit trail for failures.
import type pg from 'pg';
import { inTransaction } from './tx.js';
import { type ShardRow, type ShardStatus, toShard, UNFINISHED_SHARD_STATUSES } from './types.js';

export interface Transition {
  runId: number;
  shardNo: number;
  to: ShardStatus;
  worker?: string | null;
  errorClass?: string | null;
  message?: string | null;
  /** Clear last_error (a completed or retried shard). */
  clearError?: boolean;
}

/** Changes a shard's status when it is in one of `from`; returns the row after, or null. */
async function transition(
  client: pg.ClientBase,
  t: Transition,
  from: readonly ShardStatus[],
  extraSet = '',
): Promise<ShardRow | null> {
  return inTransaction(client, async () => {
    const { rows } = await client.query(
      `WITH prev AS (SELECT status FROM backfill_shards WHERE run_id = $1 AND shard_no = $2 FOR UPDATE)
       UPDATE backfill_shards s
          SET status = $3, worker = COALESCE($4, s.worker), updated_at = now(),
              last_error = CASE WHEN $8 THEN NULL ELSE COALESCE($5, s.last_error) END,
              last_error_class = CASE WHEN $8 THEN NULL ELSE COALESCE($6, s.last_error_class) END
              ${extraSet}
         FROM prev
        WHERE s.run_id = $1 AND s.shard_no = $2 AND prev.status = ANY($7)
       RETURNING s.*, prev.status AS prev_status`,
      [
        t.runId,
        t.shardNo,
        t.to,
        t.worker ?? null,
        t.message ?? null,
        t.errorClass ?? null,
        from,
        t.clearError ?? false,
      ],
    );
    const row = rows[0];
    if (!row) return null;
    await client.query(
      `INSERT INTO backfill_shard_events (run_id, shard_no, from_status, to_status, worker, error_class, message)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [t.runId, t.shardNo, row.prev_status, t.to, t.worker ?? null, t.errorClass ?? null, t.message ?? null],
    );
    return toShard(row);
  });
}

export async function getShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
): Promise<ShardRow | null> {
  const { rows } = await client.query('SELECT * FROM backfill_shards WHERE run_id = $1 AND shard_no = $2', [
    runId,
    shardNo,
  ]);
  return rows[0] ? toShard(rows[0]) : null;
}

export async function listShards(
  client: pg.ClientBase,
  runId: number,
  statuses?: readonly ShardStatus[],
): Promise<ShardRow[]> {
  const { rows } = statuses
    ? await client.query(
        'SELECT * FROM backfill_shards WHERE run_id = $1 AND status = ANY($2) ORDER BY shard_no',
        [runId, statuses],
      )
    : await client.query('SELECT * FROM backfill_shards WHERE run_id = $1 ORDER BY shard_no', [runId]);
  return rows.map(toShard);
}

/**
 * A worker takes a shard. Allowed from queued, from running (its previous worker died: the job
 * stalled and came back) and from failed (a retry). Null: the shard needs no work (completed,
 * split, cancelled) and the job is a no-op.
 */
export function claimShard(client: pg.ClientBase, runId: number, shardNo: number, worker: string) {
  return transition(
    client,
    { runId, shardNo, to: 'running', worker },
    UNFINISHED_SHARD_STATUSES,
    `,
              attempts = s.attempts + 1, started_at = COALESCE(s.started_at, now())`,
  );
}

/**
 * When no shard is queued or running any more, the run is over: completed, or failed when some
 * shards failed for good (until someone retries them). Returns the run's new status, if it changed.
 */
export async function settleRun(
  client: pg.ClientBase,
  runId: number,
): Promise<'completed' | 'failed' | null> {
  const { rows } = await client.query<{ status: 'completed' | 'failed' }>(
    `UPDATE backfill_runs r
        SET status = CASE WHEN f.shard_no IS NULL THEN 'completed' ELSE 'failed' END,
            last_error = CASE WHEN f.shard_no IS NULL THEN r.last_error ELSE 'shard ' || f.shard_no || ': ' || f.last_error END,
            finished_at = now(), updated_at = now()
       FROM (SELECT NULL::int AS shard_no, NULL::text AS last_error) d
       LEFT JOIN LATERAL (SELECT shard_no, last_error FROM backfill_shards
                           WHERE run_id = $1 AND status = 'failed' ORDER BY shard_no LIMIT 1) f ON true
      WHERE r.id = $1 AND r.status = 'running'
        AND NOT EXISTS (SELECT 1 FROM backfill_shards s WHERE s.run_id = r.id AND s.status IN ('queued', 'running'))
      RETURNING r.status`,
    [runId],
  );
  return rows[0]?.status ?? null;
}

/** Marks the shard done and settles the run when it was the last one. */
export async function completeShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  worker: string,
): Promise<{ shard: ShardRow | null; runCompleted: boolean }> {
  const shard = await transition(
    client,
    { runId, shardNo, to: 'completed', worker, clearError: true },
    ['running', 'queued', 'failed'],
    ', finished_at = now()',
  );
  return { shard, runCompleted: (await settleRun(client, runId)) === 'completed' };
}

/** A failed attempt. `final`: no attempts left, the shard is failed; otherwise it waits for its retry. */
export function failShard(
  client: pg.ClientBase,
  t: { runId: number; shardNo: number; worker: string; errorClass: string; message: string; final: boolean },
) {
  return transition(
    client,
    {
      runId: t.runId,
      shardNo: t.shardNo,
      to: t.final ? 'failed' : 'queued',
      worker: t.worker,
      errorClass: t.errorClass,
      message: t.message,
    },
    ['running', 'queued'],
  );
}

/** The worker gives the shard back (pause, shutdown): its checkpoint stays, it is queued again. */
export function releaseShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  worker: string,
  reason: string,
) {
  return transition(client, { runId, shardNo, to: 'queued', worker, message: reason }, ['running']);
}

/** Operator retry: failed (or one given) shard back to queued. */
export function requeueShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  from: readonly ShardStatus[],
) {
  return transition(
    client,
    { runId, shardNo, to: 'queued', message: 'retry requested', clearError: true },
    from,
  );
}

export async function cancelShards(client: pg.ClientBase, runId: number): Promise<number> {
  const res = await client.query(
    `WITH c AS (UPDATE backfill_shards SET status = 'cancelled', updated_at = now()
                 WHERE run_id = $1 AND status = ANY($2) RETURNING shard_no)
     INSERT INTO backfill_shard_events (run_id, shard_no, to_status, message)
     SELECT $1, shard_no, 'cancelled', 'run cancelled' FROM c`,
    [runId, UNFINISHED_SHARD_STATUSES],
  );
  return res.rowCount ?? 0;
}

/**
 * Splits the unfinished part of a shard (after its checkpoint) into two halves by id, GitLab-style,
 * when it keeps timing out. The parent becomes `split`; returns the two new shards (queued).
 */
export async function splitShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  reason: string,
): Promise<ShardRow[]> {
  return inTransaction(client, async () => {
    const { rows } = await client.query(
      'SELECT * FROM backfill_shards WHERE run_id = $1 AND shard_no = $2 FOR UPDATE',
      [runId, shardNo],
    );
    if (!rows[0]) return [];
    const parent = toShard(rows[0]);
    const lo = (parent.checkpointId ?? parent.fromId - 1n) + 1n;
    if (lo >= parent.toId) return []; // one id left: nothing to split
    const mid = lo + (parent.toId - lo) / 2n;
    const next = await client.query<{ n: number }>(
      'SELECT COALESCE(max(shard_no), -1) + 1 AS n FROM backfill_shards WHERE run_id = $1',
      [runId],
    );
    const first = Number(next.rows[0]!.n);
    const est = Math.max(0, Math.round((parent.estimatedRows - parent.rowsUpdated) / 2));
    const children = await client.query(
      `INSERT INTO backfill_shards (run_id, shard_no, from_id, to_id, estimated_rows, status, parent_shard_no)
       VALUES ($1, $2, $3, $4, $6, 'queued', $7), ($1, $2 + 1, $5, $8, $6, 'queued', $7) RETURNING *`,
      [
        runId,
        first,
        lo.toString(),
        mid.toString(),
        (mid + 1n).toString(),
        est,
        shardNo,
        parent.toId.toString(),
      ],
    );
    await client.query(
      `UPDATE backfill_shards SET status = 'split', updated_at = now(), finished_at = now(), last_error = $3,
                                  last_error_class = 'BatchTimeoutError'
        WHERE run_id = $1 AND shard_no = $2`,
      [runId, shardNo, reason],
    );
    await client.query(
      `INSERT INTO backfill_shard_events (run_id, shard_no, from_status, to_status, error_class, message)
       VALUES ($1, $2, $3, 'split', 'BatchTimeoutError', $4)`,
      [runId, shardNo, parent.status, `${reason} → split into shards ${first} and ${first + 1}`],
    );
    return children.rows.map(toShard);
  });
}
