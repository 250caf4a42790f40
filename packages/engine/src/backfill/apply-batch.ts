// One set-based UPDATE per batch, guarded twice:
// - the missing-id condition: an id written by the application (or another worker) in the meantime is
//   never overwritten, and re-runs are idempotent;
// - the row version (xmin) read with the batch: a row edited between the batch's read and its UPDATE
//   is not written with an id of its old content. Such rows are read again under a row lock, their ids
//   computed from what they hold now, and written in a second step (repairStaleRows).
import type pg from 'pg';
import { qualified, type TableRef } from '../db.js';
import { BadRowError, PgCode, pgCodeOf, ShardTakenOverError } from '../errors.js';
import { inTransaction } from '../ledger/tx.js';
import { recordBadRows } from './bad-rows.js';
import { int8ArrayParam, xidArrayParam } from './binary-array.js';
import { computeBatch, type SourceRow } from './compute.js';
import type { EventIdColumn } from './event-id-column.js';
import { missingEventId } from './missing-event-id.js';

/** Where a batch's progress is recorded, in the batch's own transaction. */
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
export const updateBatchSql = (table: TableRef, p: { lo: string; hi: string; xmins?: string }) =>
  `UPDATE ${qualified(table)} AS t
      SET event_id = v.eid
     FROM unnest($1::bigint[], $2::text[]${p.xmins ? `, ${p.xmins}::xid[]` : ''}) AS v(id, eid${p.xmins ? ', xmin' : ''})
    WHERE t.id = v.id${p.xmins ? ' AND t.xmin = v.xmin' : ''} AND ${missingEventId('t.')}
      AND t.id BETWEEN ${p.lo}::bigint AND ${p.hi}::bigint`;

/**
 * The shard's checkpoint and counters, in the batch's transaction after its UPDATE. Its epoch condition
 * is the fence: once another worker has claimed the shard again, it matches no row, and the batch rolls
 * back (a claim in progress holds the row: this waits for it, then sees the new epoch).
 */
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
 * A batch of a shard: its UPDATE, the repair of rows changed since the read, and the checkpoint, all or
 * nothing, so a resumed shard neither skips nor double-counts a row. With `predecessor` (the previous
 * batch's commit, still in flight on another connection with several writers) the batch commits only
 * after it succeeded: data work overlaps, checkpoints still move strictly in commit order, and a crash
 * never leaves rows behind a checkpoint. Null: nothing is in flight before this batch.
 *
 * With nothing in flight before it, the batch is one round trip (applyInOneCall); otherwise, or when
 * rows changed since the read, a transaction: BEGIN, UPDATE, repair, checkpoint, COMMIT.
 */
export async function applyBatchInOrder(
  client: pg.ClientBase,
  input: ApplyInput & { checkpoint: ShardCheckpoint },
  predecessor: Promise<unknown> | null,
): Promise<number> {
  if (predecessor === null && !withoutApplyFunction.has(client)) {
    const updated = await applyInOneCall(client, input);
    if (updated !== null) return updated;
  }
  return applyInTransaction(client, input, predecessor);
}

/**
 * Why one round trip: a worker runs several shards on one event loop, and while it computes one shard's
 * batch (tens of milliseconds) the other shards' replies wait. With four round trips per batch each
 * wait left a transaction idle on the server: measured with two shards at once, a third of a backend
 * sat "idle in transaction" on average, against none for `run`'s single-statement UPDATE. One statement
 * doing both needs the UPDATE in a CTE with RETURNING to count its rows, which cost the database 1.7–2.0
 * µs of CPU per row more than the plain UPDATE (measured on 10,000-row batches: 20.1–20.8 against
 * 18.1–19.1 µs). backfill_apply_batch (migration 0008) runs the same two statements, written here,
 * server-side: the plain UPDATE, its row count, the checkpoint.
 */
const APPLY_IN_ONE_CALL = `SELECT backfill_apply_batch($1, $2::bigint[], $3::text[], $4::bigint, $5::bigint, $6::xid[],
  $7, $8::bigint, $9::int, $10::int, $11::int, $12::int, $13::int) AS to_id`;

/** Connections on which backfill_apply_batch is missing (a ledger migrated before 0008). */
const withoutApplyFunction = new WeakSet<pg.ClientBase>();

/** The batch and its checkpoint in one call; null when the transaction path must do it instead. */
async function applyInOneCall(
  client: pg.ClientBase,
  input: ApplyInput & { checkpoint: ShardCheckpoint },
): Promise<number | null> {
  const { checkpoint: ck } = input;
  const update = batchUpdateStatement(input);
  const [ids, eventIds, lo, hi, xmins = null] = update.values;
  try {
    const res = await client.query<{ to_id: string }>(APPLY_IN_ONE_CALL, [
      update.text,
      ids,
      eventIds,
      lo,
      hi,
      xmins,
      checkpointSql,
      ck.lastId.toString(),
      ck.runId,
      ck.shardNo,
      ck.rowsSkipped,
      ck.epoch ?? null,
      ck.batchSize ?? null,
    ]);
    const toId = res.rows[0]?.to_id;
    if (input.onShardEnd && toId) input.onShardEnd(BigInt(toId));
    return input.ids.length;
  } catch (err) {
    switch (pgCodeOf(err)) {
      case PgCode.batchRowsChanged:
        return null; // nothing was kept: the transaction path re-reads the changed rows under lock
      case PgCode.shardTakenOver:
        throw new ShardTakenOverError(ck.runId, ck.shardNo, ck.epoch);
      case PgCode.undefinedFunction:
        // An operator missing for a retyped column is the same code: a schema fault, thrown as it is.
        if (!(err as Error).message.includes('backfill_apply_batch')) throw err;
        withoutApplyFunction.add(client);
        return null;
      default:
        throw err;
    }
  }
}

async function applyInTransaction(
  client: pg.ClientBase,
  input: ApplyInput & { checkpoint: ShardCheckpoint },
  predecessor: Promise<unknown> | null,
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

/** The batch UPDATE, as sent (tests EXPLAIN exactly this). */
export function batchUpdateStatement(input: Omit<ApplyInput, 'checkpoint'>): Statement {
  const { table, ids, xmins } = input;
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
  return { text: updateBatchSql(table, { lo, hi, ...xminsParam }), values };
}

/**
 * A batch with no shard to checkpoint (`run`): returns the number of rows actually updated (rows changed
 * since the read included, from their new content). A shard's batch is applyBatchInOrder.
 */
export async function applyBatch(
  client: pg.ClientBase,
  input: Omit<ApplyInput, 'checkpoint'>,
): Promise<number> {
  if (input.ids.length === 0) return 0;
  const updated = await runUpdate(client, input);
  if (updated === input.ids.length || !input.xmins) return updated;
  return updated + (await inTransaction(client, () => repairStaleRows(client, input))).updated;
}

/** The guarded UPDATE alone (no checkpoint): the number of rows written. */
async function runUpdate(client: pg.ClientBase, input: Omit<ApplyInput, 'checkpoint'>): Promise<number> {
  if (input.ids.length === 0) return 0;
  const statement = batchUpdateStatement(input);
  return (await client.query(statement.text, statement.values)).rowCount ?? 0;
}

/**
 * Inside the caller's transaction: the batch's rows that still have no event id were changed after the
 * batch was read (their version moved, so the guarded UPDATE passed them over). Lock them, compute their
 * ids from what they hold now, and write those. Locked, they cannot change again before the commit.
 */
async function repairStaleRows(
  client: pg.ClientBase,
  input: Omit<ApplyInput, 'checkpoint'>,
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
