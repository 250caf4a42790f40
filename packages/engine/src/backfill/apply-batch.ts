// One set-based UPDATE per batch, guarded twice:
// - the missing-id condition: an id written by the application (or another worker) in the meantime is
//   never overwritten, and re-runs are idempotent;
// - the row version (xmin) read with the batch: a row edited between the batch's read and its UPDATE
//   is not written with an id of its old content. Such rows are read again under a row lock, their ids
//   computed from what they hold now, and written in a second step (repairStaleRows).
import type pg from 'pg';
import { qualified, type TableRef } from '../db.js';
import { BadRowError, ShardTakenOverError } from '../errors.js';
import { inTransaction } from '../ledger/tx.js';
import { recordBadRows } from './bad-rows.js';
import { int8ArrayParam, xidArrayParam } from './binary-array.js';
import { computeBatch, type SourceRow } from './compute.js';
import type { EventIdColumn } from './event-id-column.js';
import { missingEventId } from './missing-event-id.js';

/** Where a batch's progress is recorded in the same statement (and so the same transaction). */
export interface ShardCheckpoint {
  runId: number;
  shardNo: number;
  /** Highest id covered by this batch (rows read, including bad and already-filled ones). */
  lastId: bigint;
  rowsSkipped: number;
  /**
   * The claim's fencing token (backfill_shards.epoch when the shard was claimed). With it, nothing is
   * written — data or checkpoint — once another worker has claimed the shard again.
   */
  epoch?: number;
  /** The shard's current (adaptive) batch size, shown by status. */
  batchSize?: number;
}

export interface ApplyInput {
  table: TableRef;
  /** Ascending row ids (int8 text, as read). */
  ids: string[];
  /** eventIds.at(i) is the event id of ids[i]. */
  eventIds: EventIdColumn;
  /** xmins[i] is the row version ids[i] was read at: a row changed since is not written blindly. */
  xmins?: string[];
  checkpoint?: ShardCheckpoint;
  /** What to do with a row that changed since the read and whose new content has no event id. */
  badRows?: { mode: 'fail' | 'skip'; runName: string | null };
  /** Told how many rows had changed since the read and were written from their new content. */
  onRewritten?: (rows: number) => void;
  /**
   * Told the shard's last id as the ledger has it at each checkpoint: an idle worker may have split
   * the rest of a running shard off (work stealing), and the range must then end there.
   */
  onShardEnd?: (toId: bigint) => void;
}

// The id range (the batch's first and last id) lets the planner read the batch's rows with one index
// range scan and hash-join them, instead of one index probe per row (~8% less work). The missing-id
// guard is written so no plan goes through ix_run_logs_event_id (see missing-event-id.ts).
export const updateBatchSql = (
  table: TableRef,
  p: { lo: string; hi: string; xmins?: string; fenced?: boolean },
) =>
  `UPDATE ${qualified(table)} AS t
      SET event_id = v.eid
     FROM unnest($1::bigint[], $2::text[]${p.xmins ? `, ${p.xmins}::xid[]` : ''}) AS v(id, eid${p.xmins ? ', xmin' : ''})
    WHERE t.id = v.id${p.xmins ? ' AND t.xmin = v.xmin' : ''} AND ${missingEventId('t.')}
      AND t.id BETWEEN ${p.lo}::bigint AND ${p.hi}::bigint${p.fenced ? ' AND EXISTS (SELECT 1 FROM fence)' : ''}`;

/** The shard's checkpoint and counters, on their own (the ordered, multi-writer path, and repairs). */
const checkpointSql = `UPDATE backfill_shards
      SET checkpoint_id = GREATEST(COALESCE(checkpoint_id, $1::bigint), $1::bigint),
          rows_updated = rows_updated + $4::int,
          rows_skipped = rows_skipped + $5::int,
          batches = batches + $6::int,
          batch_size = COALESCE($8::int, batch_size),
          updated_at = now()
    WHERE run_id = $2 AND shard_no = $3 AND ($7::int IS NULL OR epoch = $7::int)
RETURNING to_id::text AS to_id`;

const checkpointValues = (ck: ShardCheckpoint, updated: number, skipped: number, batches: number) => [
  ck.lastId.toString(),
  ck.runId,
  ck.shardNo,
  updated,
  skipped,
  batches,
  ck.epoch ?? null,
  ck.batchSize ?? null,
];

/** Moves the checkpoint; a claim taken over by another worker refuses it (and the caller rolls back). */
async function moveCheckpoint(
  client: pg.ClientBase,
  ck: ShardCheckpoint,
  updated: number,
  skipped: number,
  batches: number,
  onShardEnd?: (toId: bigint) => void,
): Promise<void> {
  const res = await client.query<{ to_id: string }>(
    checkpointSql,
    checkpointValues(ck, updated, skipped, batches),
  );
  if ((res.rowCount ?? 0) === 0) throw new ShardTakenOverError(ck.runId, ck.shardNo, ck.epoch);
  if (onShardEnd && res.rows[0]) onShardEnd(BigInt(res.rows[0].to_id));
}

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
    let updated = await runUpdate(client, input);
    let skipped = ck.rowsSkipped;
    if (updated < input.ids.length) {
      const repaired = await repairStaleRows(client, input);
      updated += repaired.updated;
      skipped += repaired.skipped;
    }
    try {
      await predecessor;
    } catch (err) {
      throw new PredecessorFailedError('the previous batch did not commit', { cause: err });
    }
    await moveCheckpoint(client, ck, updated, skipped, 1, input.onShardEnd);
    await client.query('COMMIT');
    return updated;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

const DIGITS = /^-?\d+$/;

/** `{1,2,3}`: ids and xmins come from int8 and xid columns; checked, since a literal is spliced here. */
function numberArrayLiteral(values: string[]): string {
  for (const v of values) if (!DIGITS.test(v)) throw new TypeError(`not a whole number: ${v}`);
  return `{${values.join(',')}}`;
}

/** A statement and its parameters, as sent (tests EXPLAIN exactly these). */
export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * The batch UPDATE, and with a checkpoint the shard's checkpoint and counters in the same statement:
 * one transaction, one round trip, so a resumed shard neither skips nor double-counts a row. When some
 * row was not written (changed since the read, or filled meanwhile), the checkpoint stops just before
 * the first such row: repairStaleRows then writes what is left and moves it on, and a crash in between
 * only makes a resumed shard read those rows again.
 */
export function batchUpdateStatement(input: ApplyInput): Statement {
  const { table, ids, checkpoint, xmins } = input;
  if (input.eventIds.length !== ids.length || (xmins && xmins.length !== ids.length)) {
    throw new TypeError(`applyBatch: ${ids.length} ids but ${input.eventIds.length} event ids`);
  }
  // Binary arrays: PostgreSQL parses a text[] literal at about 1 µs of CPU per event id, the binary
  // form at a quarter of that (see event-id-column.ts).
  const values: unknown[] = [int8ArrayParam(ids), input.eventIds.toBinaryArray()];
  const param = (v: unknown) => `$${values.push(v)}`;
  // ids arrive in ascending order (keyset reads), so the first and last bound the batch.
  const lo = param(ids[0] ?? '1');
  const hi = param(ids[ids.length - 1] ?? '0');
  const xminsParam = xmins && { xmins: param(xidArrayParam(xmins)) };
  if (!checkpoint) return { text: updateBatchSql(table, { lo, hi, ...xminsParam }), values };
  const fenced = checkpoint.epoch !== undefined;
  const update = updateBatchSql(table, { lo, hi, ...xminsParam, fenced });
  const lastId = param(checkpoint.lastId.toString());
  const runId = param(checkpoint.runId);
  const shardNo = param(checkpoint.shardNo);
  const skipped = param(checkpoint.rowsSkipped);
  const size = param(checkpoint.batchSize ?? null);
  // The fence locks the shard's ledger row first, so a claim by another worker either commits before
  // (and this statement writes nothing) or waits for it.
  const fence = fenced
    ? `fence AS (SELECT 1 FROM backfill_shards WHERE run_id = ${runId} AND shard_no = ${shardNo}
                   AND epoch = ${param(checkpoint.epoch)}::int FOR NO KEY UPDATE),
          `
    : '';
  return {
    text: `WITH ${fence}upd AS (${update} RETURNING t.id),
          n AS (SELECT count(*)::int AS updated FROM upd),
          gap AS (
            SELECT CASE WHEN (SELECT updated FROM n) = cardinality($1::bigint[]) THEN NULL
                        ELSE (SELECT min(v.id) FROM unnest($1::bigint[]) AS v(id)
                               WHERE NOT EXISTS (SELECT 1 FROM upd WHERE upd.id = v.id)) END AS first_missed),
          ck AS (
            UPDATE backfill_shards
               SET checkpoint_id = GREATEST(COALESCE(checkpoint_id, c.upto), c.upto),
                   rows_updated = rows_updated + (SELECT updated FROM n),
                   rows_skipped = rows_skipped + ${skipped}::int,
                   batches = batches + 1,
                   batch_size = COALESCE(${size}::int, batch_size),
                   updated_at = now()
              FROM (SELECT COALESCE((SELECT first_missed FROM gap) - 1, ${lastId}::bigint) AS upto) c
             WHERE run_id = ${runId} AND shard_no = ${shardNo}${fenced ? ' AND EXISTS (SELECT 1 FROM fence)' : ''}
         RETURNING backfill_shards.to_id)
     SELECT (SELECT updated FROM n) AS updated, (SELECT first_missed FROM gap)::text AS first_missed,
            (SELECT count(*) FROM ck)::int AS checkpointed, (SELECT max(to_id) FROM ck)::text AS to_id`,
    values,
  };
}

/** Returns the number of rows actually updated (rows changed since the read included, from their new content). */
export async function applyBatch(client: pg.ClientBase, input: ApplyInput): Promise<number> {
  if (!input.checkpoint) {
    if (input.ids.length === 0) return 0;
    const updated = await runUpdate(client, input);
    if (updated === input.ids.length || !input.xmins) return updated;
    return updated + (await inTransaction(client, () => repairStaleRows(client, input))).updated;
  }
  const statement = batchUpdateStatement(input);
  const res = await client.query<{
    updated: number;
    first_missed: string | null;
    checkpointed: number;
    to_id: string | null;
  }>(statement.text, statement.values);
  const updated = res.rows[0]?.updated ?? 0;
  if (res.rows[0]?.checkpointed === 0)
    throw new ShardTakenOverError(input.checkpoint.runId, input.checkpoint.shardNo, input.checkpoint.epoch);
  if (res.rows[0]?.to_id) input.onShardEnd?.(BigInt(res.rows[0].to_id));
  if (res.rows[0]?.first_missed == null) return updated;
  const ck = input.checkpoint;
  const repaired = await inTransaction(client, async () => {
    const r = await repairStaleRows(client, input);
    // The checkpoint stopped before the first row not written; now every row of the batch is.
    await moveCheckpoint(client, ck, r.updated, r.skipped, 0, input.onShardEnd);
    return r;
  });
  return updated + repaired.updated;
}

/** The guarded UPDATE alone (no checkpoint): the number of rows written. */
async function runUpdate(client: pg.ClientBase, input: ApplyInput): Promise<number> {
  if (input.ids.length === 0) return 0;
  const { checkpoint: _ck, ...plain } = input;
  const statement = batchUpdateStatement(plain);
  return (await client.query(statement.text, statement.values)).rowCount ?? 0;
}

/**
 * Inside the caller's transaction: the batch's rows that still have no event id were changed after the
 * batch was read (their version moved, so the guarded UPDATE passed them over). Lock them, compute their
 * ids from what they hold now, and write those. Locked, they cannot change again before the commit.
 */
async function repairStaleRows(
  client: pg.ClientBase,
  input: ApplyInput,
): Promise<{ updated: number; skipped: number }> {
  const { table, ids } = input;
  if (ids.length === 0) return { updated: 0, skipped: 0 };
  const { rows } = await client.query<SourceRow>(
    `SELECT id, xmin::text AS xmin, run_id, event_type, level, message, data::text AS data
       FROM ${qualified(table)}
      WHERE id = ANY($1::bigint[]) AND id BETWEEN $2::bigint AND $3::bigint AND ${missingEventId()}
      ORDER BY id
        FOR NO KEY UPDATE`,
    [numberArrayLiteral(ids), ids[0], ids[ids.length - 1]],
  );
  if (rows.length === 0) return { updated: 0, skipped: 0 };
  const fresh = await computeBatch(rows);
  const mode = input.badRows?.mode ?? 'fail';
  if (fresh.bad.length && mode === 'fail') throw new BadRowError(fresh.bad[0]!.id, fresh.bad[0]!.reason);
  await recordBadRows(client, table, fresh.bad, input.badRows?.runName ?? null);
  const updated = await runUpdate(client, {
    table,
    ids: fresh.ids,
    eventIds: fresh.eventIds,
    xmins: fresh.xmins,
  });
  input.onRewritten?.(updated);
  return { updated, skipped: fresh.bad.length };
}
