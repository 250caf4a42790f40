// Keyset reads over the primary key: only rows still missing an event id, in id order. The missing-id
// condition is written so that the primary-key range scan is the only plan (see missing-event-id.ts).
import pg from 'pg';
import { qualified, type TableRef } from '../db.js';
import { BatchBuilder, type ComputedBatch, type SourceRow } from './compute.js';
import { missingEventId } from './missing-event-id.js';

export function readBatchSql(table: TableRef): string {
  return `SELECT id, xmin::text AS xmin, run_id, event_type, level, message, data::text AS data
            FROM ${qualified(table)}
           WHERE id > $1 AND id <= $2 AND ${missingEventId()}
           ORDER BY id
           LIMIT $3`;
}

export interface ReadResult {
  batch: ComputedBatch;
  /** Time the read took, less the time spent computing ids on the way: about the database's time. */
  readMs: number;
}

/**
 * Reads the next batch and computes its ids row by row as the rows arrive off the socket, instead
 * of after the whole result is in: rows die young (less GC work, a lower peak RSS), and the compute
 * runs in socket-chunk-sized slices, so statements queued on other connections go out in between.
 */
export function readComputedBatch(
  client: pg.ClientBase,
  table: TableRef,
  cursor: bigint,
  toId: bigint,
  limit: number,
): Promise<ReadResult> {
  const builder = new BatchBuilder(limit);
  const started = performance.now();
  let computeMs = 0;
  let unexpected: unknown = null;
  const query = new pg.Query<SourceRow>({
    text: readBatchSql(table),
    values: [cursor.toString(), toId.toString(), limit],
  });
  query.on('row', (row: SourceRow) => {
    if (unexpected) return;
    const t0 = performance.now();
    try {
      builder.add(row);
    } catch (err) {
      unexpected = err; // not a bad row (those are recorded): a bug; fail the read, do not crash pg
    }
    computeMs += performance.now() - t0;
  });
  return new Promise<ReadResult>((resolve, reject) => {
    query.on('error', reject);
    query.on('end', () => {
      if (unexpected) reject(unexpected);
      else resolve({ batch: builder.result(), readMs: performance.now() - started - computeMs });
    });
    client.query(query);
  });
}
