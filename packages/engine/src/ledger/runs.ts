// Runs: one named backfill over an id range of a table.
import type pg from 'pg';
import type { TableRef } from '../db.js';
import { NotFoundError } from '../errors.js';
import { notifyControl, recordRunEvent } from './events.js';
import {
  ACTIVE_RUN_STATUSES,
  assertRunTransition,
  FINISHED_RUN_STATUSES,
  isActiveRun,
  isFinishedRun,
  PENDING_SHARD_STATUSES,
  type RunStatus,
} from './states.js';
import { inTransaction } from './tx.js';
import { type RunRow, type RunSettings, toRun } from './types.js';

export interface NewShard {
  shardNo: number;
  fromId: bigint;
  toId: bigint;
  estimatedRows: number;
}

export type NewRun = Pick<
  RunRow,
  | 'name'
  | 'eventIdVersion'
  | 'fromId'
  | 'toId'
  | 'order'
  | 'shardRows'
  | 'planner'
  | 'estimatedRows'
  | 'settings'
> & {
  table: TableRef;
  shards: NewShard[];
  /** The run's queue name, from its id (the control plane owns queue naming). */
  queueName: (runId: number) => string;
};

export async function getRun(client: pg.ClientBase, name: string): Promise<RunRow | null> {
  const { rows } = await client.query('SELECT * FROM backfill_runs WHERE name = $1', [name]);
  return rows[0] ? toRun(rows[0]) : null;
}

export async function getRunById(client: pg.ClientBase, id: number): Promise<RunRow | null> {
  const { rows } = await client.query('SELECT * FROM backfill_runs WHERE id = $1', [id]);
  return rows[0] ? toRun(rows[0]) : null;
}

export async function listRuns(client: pg.ClientBase, statuses?: readonly RunStatus[]): Promise<RunRow[]> {
  const { rows } = statuses
    ? await client.query('SELECT * FROM backfill_runs WHERE status = ANY($1) ORDER BY id', [statuses])
    : await client.query('SELECT * FROM backfill_runs ORDER BY id');
  return rows.map(toRun);
}

export async function activeRunOnTable(client: pg.ClientBase, table: TableRef): Promise<RunRow | null> {
  const { rows } = await client.query(
    'SELECT * FROM backfill_runs WHERE table_schema = $1 AND table_name = $2 AND status = ANY($3) ORDER BY id LIMIT 1',
    [table.schema, table.name, ACTIVE_RUN_STATUSES],
  );
  return rows[0] ? toRun(rows[0]) : null;
}

/** Records a run and all its shards (status queued) in one transaction. A run with no shard is born completed. */
export async function createRun(client: pg.ClientBase, run: NewRun): Promise<RunRow> {
  return inTransaction(client, async () => {
    const { rows } = await client.query(
      `INSERT INTO backfill_runs (name, table_schema, table_name, event_id_version, status, from_id, to_id, "order",
                                  shard_rows, planner, estimated_rows, settings, started_at)
       VALUES ($1, $2, $3, $4, $12, $5, $6, $7, $8, $9, $10, $11, now()) RETURNING *`,
      [
        run.name,
        run.table.schema,
        run.table.name,
        run.eventIdVersion,
        run.fromId.toString(),
        run.toId.toString(),
        run.order,
        run.shardRows,
        run.planner,
        run.estimatedRows,
        JSON.stringify(run.settings),
        run.shards.length === 0 ? 'completed' : 'running',
      ],
    );
    const created = toRun(rows[0]);
    created.queue = run.queueName(created.id);
    await client.query('UPDATE backfill_runs SET queue = $2 WHERE id = $1', [created.id, created.queue]);
    // unnest keeps it one statement however many shards there are.
    await client.query(
      `INSERT INTO backfill_shards (run_id, shard_no, from_id, to_id, estimated_rows, status)
       SELECT $1, s.no, s.lo, s.hi, s.est, 'queued'
         FROM unnest($2::int[], $3::bigint[], $4::bigint[], $5::bigint[]) AS s(no, lo, hi, est)`,
      [
        created.id,
        run.shards.map((s) => s.shardNo),
        run.shards.map((s) => s.fromId.toString()),
        run.shards.map((s) => s.toId.toString()),
        run.shards.map((s) => s.estimatedRows),
      ],
    );
    if (run.shards.length === 0) {
      await client.query('UPDATE backfill_runs SET finished_at = now() WHERE id = $1', [created.id]);
    }
    // Standing workers start serving it now, not at their next poll.
    await notifyControl(client, created.id);
    return created;
  });
}

/**
 * Moves a run to `to`, checked against the state table under the run's row lock: a transition the
 * table does not allow throws IllegalTransitionError naming both states, and changes nothing.
 * Returns the run as it is after the change.
 */
export async function transitionRun(
  client: pg.ClientBase,
  runId: number,
  to: RunStatus,
  opts: { lastError?: string } = {},
): Promise<RunRow> {
  return inTransaction(client, () => transitionRunLocked(client, runId, to, opts));
}

/** transitionRun for a caller already inside a transaction. */
async function transitionRunLocked(
  client: pg.ClientBase,
  runId: number,
  to: RunStatus,
  opts: { lastError?: string },
): Promise<RunRow> {
  const current = await client.query<{ status: RunStatus; name: string }>(
    'SELECT status, name FROM backfill_runs WHERE id = $1 FOR UPDATE',
    [runId],
  );
  const row = current.rows[0];
  if (!row) throw new NotFoundError(`no run with id ${runId}`);
  assertRunTransition(`run "${row.name}"`, row.status, to);
  await notifyControl(client, runId);
  const { rows } = await client.query(
    `UPDATE backfill_runs
        SET status = $2, updated_at = now(), last_error = COALESCE($3, last_error),
            finished_at = CASE WHEN $4 THEN COALESCE(finished_at, now()) ELSE NULL END,
            queue_cleared_at = CASE WHEN $4 THEN queue_cleared_at ELSE NULL END
      WHERE id = $1 RETURNING *`,
    [runId, to, opts.lastError ?? null, isFinishedRun(to)],
  );
  return toRun(rows[0]);
}

/**
 * When no shard of an active run (running or paused) is queued or running any more, the run is over:
 * completed, or failed when some shards failed for good (until someone retries them). Every transition
 * that can finish a run calls this (a shard's end, resume, retry, the reconciler), so a run never stays
 * active with nothing left to do. Returns the run's new status, if it changed.
 */
export async function settleRun(
  client: pg.ClientBase,
  runId: number,
): Promise<'completed' | 'failed' | null> {
  return inTransaction(client, async () => {
    const run = await client.query<{ status: RunStatus }>(
      'SELECT status FROM backfill_runs WHERE id = $1 FOR UPDATE',
      [runId],
    );
    const status = run.rows[0]?.status;
    if (!status || !isActiveRun(status)) return null;
    const { rows } = await client.query<{
      pending: boolean;
      shard_no: number | null;
      last_error: string | null;
    }>(
      `SELECT EXISTS (SELECT 1 FROM backfill_shards WHERE run_id = $1 AND status = ANY($2)) AS pending,
              f.shard_no, f.last_error
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT shard_no, last_error FROM backfill_shards
                             WHERE run_id = $1 AND status = 'failed' ORDER BY shard_no LIMIT 1) f ON true`,
      [runId, PENDING_SHARD_STATUSES],
    );
    const r = rows[0]!;
    if (r.pending) return null;
    if (r.shard_no === null) {
      await transitionRunLocked(client, runId, 'completed', {});
      return 'completed';
    }
    await transitionRunLocked(client, runId, 'failed', { lastError: `shard ${r.shard_no}: ${r.last_error}` });
    return 'failed';
  });
}

/** Records that a finished run's queue is gone from Redis (a retry sets it back to null). */
export async function markQueueCleared(client: pg.ClientBase, runId: number): Promise<void> {
  await client.query('UPDATE backfill_runs SET queue_cleared_at = now() WHERE id = $1', [runId]);
}

/** Finished runs whose queue may still be in Redis. */
export async function runsWithQueueToClear(client: pg.ClientBase): Promise<RunRow[]> {
  const { rows } = await client.query(
    'SELECT * FROM backfill_runs WHERE status = ANY($1) AND queue_cleared_at IS NULL ORDER BY id',
    [FINISHED_RUN_STATUSES],
  );
  return rows.map(toRun);
}

/** One setting's change: shown to operators and recorded as a run event. */
export interface SettingChange {
  key: string;
  from: unknown;
  to: unknown;
}

/**
 * Replaces a run's settings and records each change (old and new value) as a run event, in one
 * transaction, then notifies the workers. Returns the run as it is after the change.
 */
export async function changeRunSettings(
  client: pg.ClientBase,
  runId: number,
  next: RunSettings,
  changes: SettingChange[],
  by: string,
): Promise<RunRow> {
  return inTransaction(client, async () => {
    const { rows } = await client.query(
      'UPDATE backfill_runs SET settings = $2::jsonb, updated_at = now() WHERE id = $1 RETURNING *',
      [runId, JSON.stringify(next)],
    );
    if (!rows[0]) throw new NotFoundError(`no run with id ${runId}`);
    for (const c of changes) {
      await recordRunEvent(
        client,
        runId,
        'settings',
        `${c.key}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`,
        { key: c.key, from: c.from, to: c.to, by },
      );
    }
    await notifyControl(client, runId);
    return toRun(rows[0]);
  });
}
