// One set-based UPDATE per batch. `event_id IS NULL` in the UPDATE itself means an id written by the
// application (or another worker) in the meantime is never overwritten, and re-runs are idempotent.
import type pg from 'pg';
import { qualified, type TableRef } from '../db.js';
import type { EventIdColumn } from './event-id-column.js';
import { missingEventId } from './missing-event-id.js';

/** Where a batch's progress is recorded in the same statement (and so the same transaction). */
export interface ShardCheckpoint {
  runId: number;
  shardNo: number;
  /** Highest id covered by this batch (rows read, including bad and already-filled ones). */
  lastId: bigint;
  rowsSkipped: number;
}

export interface ApplyInput {
  table: TableRef;
  /** Ascending row ids (int8 text, as read). */
  ids: string[];
  /** eventIds.at(i) is the event id of ids[i]. */
  eventIds: EventIdColumn;
  checkpoint?: ShardCheckpoint;
}

// The id range ($7..$8, the batch's first and last id) lets the planner read the batch's rows with
// one index range scan and hash-join them, instead of one index probe per row (~8% less work). The
// missing-id guard never overwrites an id written meanwhile, and is written so no plan goes through
// ix_run_logs_event_id (see missing-event-id.ts).
export const updateBatchSql = (table: TableRef) =>
  `UPDATE ${qualified(table)} AS t
      SET event_id = v.eid
     FROM unnest($1::bigint[], $2::text[]) AS v(id, eid)
    WHERE t.id = v.id AND ${missingEventId('t.')} AND t.id BETWEEN $7::bigint AND $8::bigint`;

/** The shard's checkpoint and counters, on their own (the ordered, multi-writer path). */
const checkpointSql = `UPDATE backfill_shards
      SET checkpoint_id = GREATEST(COALESCE(checkpoint_id, $1::bigint), $1::bigint),
          rows_updated = rows_updated + $4::int,
          rows_skipped = rows_skipped + $5::int,
          batches = batches + 1,
          updated_at = now()
    WHERE run_id = $2 AND shard_no = $3`;

/** The previous batch of the shard did not commit, so this one must not either. */
export class PredecessorFailedError extends Error {}

/**
 * A batch of a shard written while the batch before it may still be in flight on another connection:
 * the UPDATE runs at once, inside a transaction that moves the checkpoint and commits only after
 * `predecessor` (the previous batch's commit) has succeeded. Data work overlaps; checkpoints still move
 * strictly in commit order, so a crash never leaves rows behind a checkpoint.
 */
export async function applyBatchInOrder(
  client: pg.ClientBase,
  input: ApplyInput & { checkpoint: ShardCheckpoint },
  predecessor: Promise<unknown>,
): Promise<number> {
  const { checkpoint: ck } = input;
  await client.query('BEGIN');
  try {
    const updated = await applyBatch(client, {
      table: input.table,
      ids: input.ids,
      eventIds: input.eventIds,
    });
    try {
      await predecessor;
    } catch (err) {
      throw new PredecessorFailedError('the previous batch did not commit', { cause: err });
    }
    await client.query(checkpointSql, [ck.lastId.toString(), ck.runId, ck.shardNo, updated, ck.rowsSkipped]);
    await client.query('COMMIT');
    return updated;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

const BIGINT = /^-?\d+$/;

/** `{1,2,3}`: the ids come from int8 columns; checked, since a literal is spliced together here. */
function bigintArrayLiteral(ids: string[]): string {
  for (const id of ids) if (!BIGINT.test(id)) throw new TypeError(`not a bigint: ${id}`);
  return `{${ids.join(',')}}`;
}

/** A statement and its parameters, as sent (tests EXPLAIN exactly these). */
export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * The batch UPDATE, and with a checkpoint the shard's checkpoint and counters in the same statement:
 * one transaction, one round trip, so a resumed shard neither skips nor double-counts a row.
 */
export function batchUpdateStatement(input: ApplyInput): Statement {
  const { table, ids, checkpoint } = input;
  if (input.eventIds.length !== ids.length) {
    throw new TypeError(`applyBatch: ${ids.length} ids but ${input.eventIds.length} event ids`);
  }
  const idsLiteral = bigintArrayLiteral(ids);
  const eventIds = input.eventIds.toArrayLiteral();
  // ids arrive in ascending order (keyset reads), so the first and last bound the batch.
  const lo = ids[0] ?? '1';
  const hi = ids[ids.length - 1] ?? '0';
  if (!checkpoint) {
    return {
      text: updateBatchSql(table).replace('$7::bigint', '$3::bigint').replace('$8::bigint', '$4::bigint'),
      values: [idsLiteral, eventIds, lo, hi],
    };
  }
  return {
    text: `WITH upd AS (${updateBatchSql(table)} RETURNING 1),
          n AS (SELECT count(*)::int AS updated FROM upd),
          ck AS (
            UPDATE backfill_shards
               SET checkpoint_id = GREATEST(COALESCE(checkpoint_id, $3::bigint), $3::bigint),
                   rows_updated = rows_updated + (SELECT updated FROM n),
                   rows_skipped = rows_skipped + $6::int,
                   batches = batches + 1,
                   updated_at = now()
             WHERE run_id = $4 AND shard_no = $5
         RETURNING 1)
     SELECT (SELECT updated FROM n) AS updated, (SELECT count(*) FROM ck)::int AS checkpointed`,
    values: [
      idsLiteral,
      eventIds,
      checkpoint.lastId.toString(),
      checkpoint.runId,
      checkpoint.shardNo,
      checkpoint.rowsSkipped,
      lo,
      hi,
    ],
  };
}

/** Returns the number of rows actually updated. */
export async function applyBatch(client: pg.ClientBase, input: ApplyInput): Promise<number> {
  const statement = batchUpdateStatement(input);
  if (!input.checkpoint) {
    if (input.ids.length === 0) return 0;
    const res = await client.query(statement.text, statement.values);
    return res.rowCount ?? 0;
  }
  const res = await client.query<{ updated: number }>(statement.text, statement.values);
  return res.rows[0]?.updated ?? 0;
}
