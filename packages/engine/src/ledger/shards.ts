// Shard state changes. Every change writes a transition row (backfill_shard_events) in the same
// transaction, with the worker and the error class and message: the audit trail for failures.
import type pg from 'pg';
import { AtParallelismError, NotFoundError, ShardTakenOverError } from '../errors.js';
import { settleRun } from './runs.js';
import {
  assertShardTransition,
  isTerminalShard,
  type ShardStatus,
  shardStatusesInto,
  TERMINAL_SHARD_STATUSES,
} from './states.js';
import { inTransaction } from './tx.js';
import { type ShardRow, toShard } from './types.js';

export interface Transition {
  runId: number;
  shardNo: number;
  to: ShardStatus;
  worker?: string | null;
  errorClass?: string | null;
  message?: string | null;
  /** Clear last_error (a completed or retried shard). */
  clearError?: boolean;
  /** The writer's claim (fencing token): refused with ShardTakenOverError when the shard was claimed since. */
  epoch?: number;
  /** Runs first in the transaction; what it throws writes nothing. */
  admit?: () => Promise<void>;
}

/**
 * Changes a shard's status, checked against the state table under the shard's row lock. `noWorkIn`
 * lists the states in which the caller's request is already moot (a claim on a finished shard, a
 * release after a cancel): then nothing is written and the result is null. Any other transition the
 * table does not allow throws IllegalTransitionError naming both states.
 */
async function transition(
  client: pg.ClientBase,
  t: Transition,
  noWorkIn: readonly ShardStatus[],
  extraSet = '',
): Promise<ShardRow | null> {
  return inTransaction(client, async () => {
    await t.admit?.();
    const prev = await client.query<{ status: ShardStatus; epoch: number }>(
      'SELECT status, epoch FROM backfill_shards WHERE run_id = $1 AND shard_no = $2 FOR UPDATE',
      [t.runId, t.shardNo],
    );
    const from = prev.rows[0]?.status;
    if (!from) throw new NotFoundError(`run ${t.runId} has no shard ${t.shardNo}`);
    if (noWorkIn.includes(from)) return null;
    if (t.epoch !== undefined && prev.rows[0]!.epoch !== t.epoch) {
      throw new ShardTakenOverError(t.runId, t.shardNo, t.epoch);
    }
    assertShardTransition(`shard ${t.shardNo} of run ${t.runId}`, from, t.to);
    const { rows } = await client.query(
      `UPDATE backfill_shards s
          SET status = $3, worker = COALESCE($4, s.worker), updated_at = now(),
              last_error = CASE WHEN $7 THEN NULL ELSE COALESCE($5, s.last_error) END,
              last_error_class = CASE WHEN $7 THEN NULL ELSE COALESCE($6, s.last_error_class) END
              ${extraSet}
        WHERE s.run_id = $1 AND s.shard_no = $2
       RETURNING s.*`,
      [
        t.runId,
        t.shardNo,
        t.to,
        t.worker ?? null,
        t.message ?? null,
        t.errorClass ?? null,
        t.clearError ?? false,
      ],
    );
    await client.query(
      `INSERT INTO backfill_shard_events (run_id, shard_no, from_status, to_status, worker, error_class, message)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [t.runId, t.shardNo, from, t.to, t.worker ?? null, t.errorClass ?? null, t.message ?? null],
    );
    return toShard(rows[0]);
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
 * split, cancelled) and the job is a no-op. Every claim increments the shard's epoch: the returned
 * row's epoch is this claim's fencing token, which every later write of the claimant carries.
 */
export function claimShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  worker: string,
  parallelism = 0,
) {
  const admit = parallelism > 0 ? () => admitWithin(client, runId, shardNo, parallelism) : undefined;
  return transition(
    client,
    { runId, shardNo, to: 'running', worker, ...(admit && { admit }) },
    TERMINAL_SHARD_STATUSES,
    `,
              attempts = s.attempts + 1, epoch = s.epoch + 1, started_at = COALESCE(s.started_at, now())`,
  );
}

/** Key space of the per-run claim lock (the two-int advisory keys, apart from every one-key lock). */
const PARALLELISM_LOCK = 0x62667061; // "bfpa"

/**
 * AtParallelismError when `parallelism` other shards of the run are running. Claims of one run take
 * turns under an advisory lock held to their commit, so two workers cannot both pass at the limit.
 */
async function admitWithin(client: pg.ClientBase, runId: number, shardNo: number, parallelism: number) {
  await client.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [PARALLELISM_LOCK, runId]);
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM backfill_shards WHERE run_id = $1 AND status = 'running' AND shard_no <> $2`,
    [runId, shardNo],
  );
  if (rows[0]!.n >= parallelism) throw new AtParallelismError(runId, parallelism);
}

/** Marks the shard done and settles the run when it was the last one. */
export async function completeShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  worker: string,
  epoch?: number,
): Promise<{ shard: ShardRow | null; runCompleted: boolean }> {
  const shard = await transition(
    client,
    { runId, shardNo, to: 'completed', worker, clearError: true, ...(epoch !== undefined && { epoch }) },
    ['completed'], // finished by someone else (finalize, or a worker the shard stalled away from)
    ', finished_at = now()',
  );
  return { shard, runCompleted: (await settleRun(client, runId)) === 'completed' };
}

/** A failed attempt. `final`: no attempts left, the shard is failed; otherwise it waits for its retry. */
export function failShard(
  client: pg.ClientBase,
  t: {
    runId: number;
    shardNo: number;
    worker: string;
    errorClass: string;
    message: string;
    final: boolean;
    epoch?: number;
  },
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
      ...(t.epoch !== undefined && { epoch: t.epoch }),
    },
    TERMINAL_SHARD_STATUSES,
  );
}

/** The worker gives the shard back (pause, shutdown): its checkpoint stays, it is queued again. */
export function releaseShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  worker: string,
  reason: string,
  epoch?: number,
) {
  return transition(
    client,
    { runId, shardNo, to: 'queued', worker, message: reason, ...(epoch !== undefined && { epoch }) },
    TERMINAL_SHARD_STATUSES,
  );
}

/**
 * The reconciler found a running shard whose job no worker holds (its worker died, or handed the job
 * back): it goes back to queued. Fenced by the claim it saw: a claim made since wins, and null is
 * returned (as for a shard that finished meanwhile).
 */
export async function requeueOrphanedShard(
  client: pg.ClientBase,
  runId: number,
  shardNo: number,
  epoch: number,
  reason: string,
): Promise<ShardRow | null> {
  try {
    return await transition(
      client,
      { runId, shardNo, to: 'queued', worker: 'reconciler', message: reason, epoch },
      [...TERMINAL_SHARD_STATUSES, 'queued', 'failed'],
    );
  } catch (err) {
    if (err instanceof ShardTakenOverError) return null;
    throw err;
  }
}

/** Operator retry: a failed (or any unfinished) shard back to queued. */
export function requeueShard(client: pg.ClientBase, runId: number, shardNo: number) {
  return transition(
    client,
    { runId, shardNo, to: 'queued', message: 'retry requested', clearError: true },
    [],
  );
}

export async function cancelShards(client: pg.ClientBase, runId: number): Promise<number> {
  const res = await client.query(
    `WITH c AS (UPDATE backfill_shards SET status = 'cancelled', updated_at = now()
                 WHERE run_id = $1 AND status = ANY($2) RETURNING shard_no)
     INSERT INTO backfill_shard_events (run_id, shard_no, to_status, message)
     SELECT $1, shard_no, 'cancelled', 'run cancelled' FROM c`,
    [runId, shardStatusesInto('cancelled')],
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
  epoch?: number,
): Promise<ShardRow[]> {
  return inTransaction(client, async () => {
    const { rows } = await client.query(
      'SELECT * FROM backfill_shards WHERE run_id = $1 AND shard_no = $2 FOR UPDATE',
      [runId, shardNo],
    );
    if (!rows[0]) return [];
    const parent = toShard(rows[0]);
    if (isTerminalShard(parent.status)) return []; // finished meanwhile: nothing left to split
    if (epoch !== undefined && parent.epoch !== epoch) throw new ShardTakenOverError(runId, shardNo, epoch);
    assertShardTransition(`shard ${shardNo} of run ${runId}`, parent.status, 'split');
    const lo = (parent.checkpointId ?? parent.fromId - 1n) + 1n;
    if (lo >= parent.toId) return []; // one id left: nothing to split
    const mid = lo + (parent.toId - lo) / 2n;
    // Splits of one run are serialised on the run's row, so two never number their children alike.
    await client.query('SELECT 1 FROM backfill_runs WHERE id = $1 FOR UPDATE', [runId]);
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

/**
 * Work stealing for the tail of a run: an idle worker takes the second half of the work left in a
 * running shard. The shard keeps its owner and epoch but now ends at the middle of what it had left
 * (its owner learns the new end at its next checkpoint and stops there); the other half becomes a new
 * queued shard. Rows near the cut that both read are written once (the missing-id guard) and counted
 * once (each by the UPDATE that wrote it).
 *
 * What the owner has read past its checkpoint (`aheadBatches` of its current batch size: the write in
 * flight and the batch read ahead) is its own already, and a shard is a candidate only when at least
 * `minIds` ids lie beyond it. Without that margin a shard near its end was split into a stolen half its
 * owner had already read, which cost the run a new shard's start-up and bought nothing. The cut halves
 * all the owner has left, its read-ahead included (it still has to write it), so the two finish
 * together; but never nearer than minIds/2 past the read-ahead. Halving only what lay beyond it left
 * the owner finishing 0.2-0.3 s after the thief at the bench's tail. Null when no running shard
 * qualifies.
 */
export async function stealHalfOfLargestShard(
  client: pg.ClientBase,
  runId: number,
  { minIds, aheadBatches }: { minIds: bigint; aheadBatches: number },
): Promise<{ from: ShardRow; stolen: ShardRow } | null> {
  return inTransaction(client, async () => {
    // Serialised with splits on the run's row, so two never number their children alike.
    await client.query('SELECT 1 FROM backfill_runs WHERE id = $1 FOR UPDATE', [runId]);
    const { rows } = await client.query(
      `SELECT s.*, a.steal_from
         FROM backfill_shards s,
              LATERAL (SELECT COALESCE(s.checkpoint_id, s.from_id - 1) + 1
                              + $3::bigint * COALESCE(s.batch_size, 0) AS steal_from) a
        WHERE s.run_id = $1 AND s.status = 'running' AND s.to_id - a.steal_from + 1 >= $2::bigint
        ORDER BY s.to_id - COALESCE(s.checkpoint_id, s.from_id - 1) DESC LIMIT 1 FOR UPDATE OF s`,
      [runId, minIds.toString(), aheadBatches],
    );
    if (!rows[0]) return null;
    const shard = toShard(rows[0]);
    // The owner still has to write what it has read ahead: the cut halves all that is left past its
    // checkpoint, so both finish together, but stays minIds/2 past the read-ahead (its batches may
    // have grown since the ledger last saw their size).
    const lo = BigInt(rows[0].steal_from);
    const done = shard.checkpointId ?? shard.fromId - 1n;
    const half = done + (shard.toId - done) / 2n;
    const margin = lo - 1n + minIds / 2n;
    const mid = half > margin ? half : margin;
    const span = Number(shard.toId - shard.fromId + 1n);
    const est = Math.round((shard.estimatedRows * Number(shard.toId - mid)) / Math.max(1, span));
    const next = await client.query<{ n: number }>(
      'SELECT COALESCE(max(shard_no), -1) + 1 AS n FROM backfill_shards WHERE run_id = $1',
      [runId],
    );
    const no = Number(next.rows[0]!.n);
    const stolen = await client.query(
      `INSERT INTO backfill_shards (run_id, shard_no, from_id, to_id, estimated_rows, status, parent_shard_no)
       VALUES ($1, $2, $3, $4, $5, 'queued', $6) RETURNING *`,
      [runId, no, (mid + 1n).toString(), shard.toId.toString(), est, shard.shardNo],
    );
    const from = await client.query(
      `UPDATE backfill_shards SET to_id = $3, estimated_rows = GREATEST(0, estimated_rows - $4), updated_at = now()
        WHERE run_id = $1 AND shard_no = $2 RETURNING *`,
      [runId, shard.shardNo, mid.toString(), est],
    );
    await client.query(
      `INSERT INTO backfill_shard_events (run_id, shard_no, from_status, to_status, message)
       VALUES ($1, $2, 'running', 'running', $3), ($1, $4, NULL, 'queued', $5)`,
      [
        runId,
        shard.shardNo,
        `ids ${mid + 1n}..${shard.toId} handed to shard ${no} (an idle worker took the tail)`,
        no,
        `stolen from shard ${shard.shardNo}: ids ${mid + 1n}..${shard.toId}`,
      ],
    );
    return { from: toShard(from.rows[0]), stolen: toShard(stolen.rows[0]) };
  });
}

/** One page of a run's shards (optionally of one status), in shard order, with the total count. */
export async function listShardsPage(
  client: pg.ClientBase,
  runId: number,
  o: { status?: ShardStatus; offset: number; limit: number },
): Promise<{ total: number; shards: ShardRow[] }> {
  const { rows } = await client.query(
    `SELECT s.*, count(*) OVER () AS total FROM backfill_shards s
      WHERE run_id = $1 AND ($2::text IS NULL OR status = $2)
      ORDER BY shard_no OFFSET $3 LIMIT $4`,
    [runId, o.status ?? null, o.offset, o.limit],
  );
  if (rows.length === 0 && o.offset > 0) {
    const c = await client.query(
      'SELECT count(*)::int AS n FROM backfill_shards WHERE run_id = $1 AND ($2::text IS NULL OR status = $2)',
      [runId, o.status ?? null],
    );
    return { total: c.rows[0].n, shards: [] };
  }
  return { total: Number(rows[0]?.total ?? 0), shards: rows.map(toShard) };
}

/** A shard's transitions, newest first. */
export async function listShardEvents(client: pg.ClientBase, runId: number, shardNo: number, limit = 50) {
  const { rows } = await client.query(
    `SELECT id, from_status AS "from", to_status AS "to", worker, error_class AS "errorClass", message,
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
       FROM backfill_shard_events WHERE run_id = $1 AND shard_no = $2 ORDER BY id DESC LIMIT $3`,
    [runId, shardNo, limit],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) })) as Array<{
    id: number;
    from: string | null;
    to: string;
    worker: string | null;
    errorClass: string | null;
    message: string | null;
    at: string;
  }>;
}

/**
 * Every shard of a run as a compact tuple for a map: [shardNo, status, done 0..1] (done from the
 * checkpoint's place in the shard's id range). One statement, a few bytes per shard.
 */
export async function shardMap(
  client: pg.ClientBase,
  runId: number,
): Promise<Array<[number, ShardStatus, number]>> {
  const { rows } = await client.query(
    `SELECT shard_no, status,
            CASE WHEN status = 'completed' THEN 1
                 WHEN checkpoint_id IS NULL OR to_id = from_id THEN 0
                 ELSE least(1, greatest(0, (checkpoint_id - from_id + 1)::float8 / (to_id - from_id + 1)::float8)) END AS done
       FROM backfill_shards WHERE run_id = $1 ORDER BY shard_no`,
    [runId],
  );
  return rows.map((r) => [r.shard_no, r.status, Math.round(Number(r.done) * 1000) / 1000]);
}
