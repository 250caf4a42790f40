// Keyset reads over the primary key: only rows still missing an event id, in id order. The missing-id
// condition is written so that the primary-key range scan is the only plan (see missing-event-id.ts).
//
// A batch is read with COPY … TO STDOUT in the binary format: each field arrives as bytes and the id is
// computed from them (eventIdOfUtf8Fields), with no string per field and no row object. node-pg's row
// path decoded seven strings a row only for the id computation to encode them to UTF-8 again: a third
// of `run`'s CPU per row went to that and its garbage. Rows the byte path does not take are decoded
// exactly as node-pg decodes text and go the general way (eventIdOfJsonText).
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { qualified, type TableRef } from '../db.js';
import { heardFrom } from '../silence-watchdog.js';
import { BinaryCopyReader } from './binary-copy.js';
import { BatchBuilder, type ComputedBatch, READ_FIELDS } from './compute.js';
import { missingEventId } from './missing-event-id.js';

/**
 * The batch read, its bounds written in (COPY takes no parameters): whole numbers only, checked here.
 * Every column as a fixed binary type: int8, xid, and text for the rest (a uuid run_id prints as
 * node-pg would give it, and data::text is jsonb's text, what event-id v1 parses).
 */
export function readBatchSelect(table: TableRef, cursor: bigint, toId: bigint, limit: number): string {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`not a batch size: ${limit}`);
  return `SELECT id::int8, xmin, run_id::text, event_type::text, level::text, message::text, data::text
            FROM ${qualified(table)}
           WHERE id > ${BigInt(cursor)} AND id <= ${BigInt(toId)} AND ${missingEventId()}
           ORDER BY id
           LIMIT ${limit}`;
}

export const readBatchCopySql = (table: TableRef, cursor: bigint, toId: bigint, limit: number) =>
  `COPY (${readBatchSelect(table, cursor, toId, limit)}) TO STDOUT (FORMAT binary)`;

export interface ReadResult {
  batch: ComputedBatch;
  /** Time the read took, less the time spent computing ids on the way: about the database's time. */
  readMs: number;
}

/**
 * Reads the next batch and computes its ids tuple by tuple as the bytes arrive off the socket,
 * instead of after the whole result is in: nothing of a row outlives its id, and the compute runs in
 * socket-chunk-sized slices, so statements queued on other connections go out in between.
 */
export function readComputedBatch(
  client: pg.ClientBase,
  table: TableRef,
  cursor: bigint,
  toId: bigint,
  limit: number,
): Promise<ReadResult> {
  const builder = new BatchBuilder(limit);
  const reader = new BinaryCopyReader(READ_FIELDS, (bytes, fields) => builder.addFields(bytes, fields));
  const started = performance.now();
  let computeMs = 0;
  let unexpected: unknown = null;
  return new Promise<ReadResult>((resolve, reject) => {
    const stream = client.query(copyTo(readBatchCopySql(table, cursor, toId, limit)));
    stream.on('data', (chunk: Buffer) => {
      heardFrom(client);
      if (unexpected) return; // keep reading to the end: the connection stays usable
      const t0 = performance.now();
      try {
        reader.push(chunk);
      } catch (err) {
        unexpected = err; // not a bad row (those are recorded): a bug; fail the read
      }
      computeMs += performance.now() - t0;
    });
    stream.on('error', reject);
    stream.on('end', () => {
      try {
        if (!unexpected) reader.finish();
      } catch (err) {
        unexpected = err;
      }
      if (unexpected) reject(unexpected);
      else resolve({ batch: builder.result(), readMs: performance.now() - started - computeMs });
    });
  });
}
