// Runs: one named backfill over an id range of a table.
import { randomBytes } from 'node:crypto';
import { newRunQueueName } from '@backfill/shared';
import type pg from 'pg';
import type { TableRef } from '../db.js';
import { inTransaction } from './tx.js';
import { ACTIVE_RUN_STATUSES, type RunRow, type RunSettings, type RunStatus, toRun } from './types.js';

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
> & { table: TableRef; shards: NewShard[] };

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

/** Records a run and all its shards (status queued) in one transaction. */
export async function createRun(client: pg.ClientBase, run: NewRun): Promise<RunRow> {
  return inTransaction(client, async () => {
    const { rows } = await client.query(
      `INSERT INTO backfill_runs (name, table_schema, table_name, event_id_version, status, from_id, to_id, "order",
                                  shard_rows, planner, estimated_rows, settings, started_at)
       VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, $10, $11, now()) RETURNING *`,
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
      ],
    );
    const created = toRun(rows[0]);
    created.queue = newRunQueueName(created.id, randomBytes(4).toString('hex'));
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
      await client.query(`UPDATE backfill_runs SET status = 'completed', finished_at = now() WHERE id = $1`, [
        created.id,
      ]);
      created.status = 'completed';
    }
    return created;
  });
}

/** Moves a run between statuses; returns false when it was not in one of `from`. */
export async function setRunStatus(
  client: pg.ClientBase,
  runId: number,
  to: RunStatus,
  from: readonly RunStatus[],
  lastError?: string,
): Promise<boolean> {
  const finished = ['completed', 'failed', 'cancelled', 'finalized'].includes(to);
  const res = await client.query(
    `UPDATE backfill_runs
        SET status = $2, updated_at = now(), last_error = COALESCE($4, last_error),
            finished_at = CASE WHEN $5 THEN COALESCE(finished_at, now()) ELSE NULL END
      WHERE id = $1 AND status = ANY($3)`,
    [runId, to, from, lastError ?? null, finished],
  );
  return (res.rowCount ?? 0) > 0;
}

export async function updateRunSettings(
  client: pg.ClientBase,
  runId: number,
  patch: Partial<RunSettings>,
): Promise<void> {
  await client.query(
    `UPDATE backfill_runs SET settings = settings || $2::jsonb, updated_at = now() WHERE id = $1`,
    [runId, JSON.stringify(patch)],
  );
}
