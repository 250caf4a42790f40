// Inserting demo rows fast: one connection, one statement per batch, and the next batch generated while
// the current one is being inserted, so generation and the server's work overlap.

import { RUN_LOGS, type TableRef } from '@backfill/engine/db';
import { UsageError } from '@backfill/engine/errors';
import { type Logger, silentLogger } from '@backfill/engine/logger';
import pg from 'pg';
import { buildBatch } from './batch.js';
import { rowGenerator } from './generate.js';
import { insertSql } from './insert-sql.js';
import { checkSeed, DEMO_DEFAULT_BATCH_ROWS, DEMO_MAX_ROWS } from './limits.js';
import { advanceSequence, highestIdUsed } from './sequence.js';
import { sparseIdAllocator } from './sparse-ids.js';
import { ensureLegacyTable, schemaProblem } from './table.js';
import type { DemoDataSummary, InsertDemoOptions } from './types.js';

type Queryable = pg.Pool | pg.ClientBase;

// Structural, so a pool from another copy of pg is recognised too.
const isPool = (q: Queryable): q is pg.Pool =>
  q instanceof pg.Pool || typeof (q as { totalCount?: unknown }).totalCount === 'number';

/** One insertDemoRows call's options with defaults applied. */
interface Job {
  table: TableRef;
  total: number;
  seed: number;
  batchRows: number;
  sparse: boolean;
  logger: Logger;
  onProgress: (done: number, total: number) => void;
}

/** Applies defaults and rejects bad options before anything touches the database. */
function jobOf(options: InsertDemoOptions): Job {
  const table = options.table ?? RUN_LOGS;
  const total = options.rows;
  const seed = options.seed ?? 1;
  const batchRows = options.batchRows ?? DEMO_DEFAULT_BATCH_ROWS;
  const sparse = options.sparse ?? false;
  const logger = options.logger ?? silentLogger;
  if (!Number.isInteger(total) || total < 1 || total > DEMO_MAX_ROWS) {
    throw new UsageError(
      `rows must be a whole number from 1 to ${DEMO_MAX_ROWS.toLocaleString('en-US')}, got ${total}`,
    );
  }
  checkSeed(seed);
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 100_000) {
    throw new UsageError(`batchRows must be a whole number from 1 to 100,000, got ${batchRows}`);
  }
  const onProgress = (done: number, n: number) => options.onProgress?.(done, n);
  return { table, total, seed, batchRows, sparse, logger, onProgress };
}

type Result = { min_id: string; max_id: string; n: number };
type InFlight = { n: number; query: Promise<pg.QueryResult<Result>> };

/** Rows inserted so far and the range of ids they got. */
interface Tally {
  done: number;
  minId: bigint | undefined;
  maxId: bigint | undefined;
}

/** Waits for one batch's statement, then counts it: progress is reported only for committed rows. */
async function settle(job: Job, tally: Tally, batch: InFlight): Promise<void> {
  let res: pg.QueryResult<Result>;
  try {
    res = await batch.query;
  } catch (err) {
    throw schemaProblem(err, job.table);
  }
  const row = res.rows[0]!;
  const lo = BigInt(row.min_id);
  const hi = BigInt(row.max_id);
  if (tally.minId === undefined || lo < tally.minId) tally.minId = lo;
  if (tally.maxId === undefined || hi > tally.maxId) tally.maxId = hi;
  tally.done += batch.n;
  job.onProgress(tally.done, job.total);
}

/** Inserts all the rows; batch k+1 is generated while batch k is being inserted. */
async function insertBatches(client: pg.ClientBase, job: Job, nextId: (() => number) | undefined) {
  // Row contents depend only on (seed, row index): the same seed always yields the same rows. Ids come
  // from the table's sequence, or from the sparse allocator.
  const sql = insertSql(job.table, job.sparse);
  const rowFor = rowGenerator(job.seed);
  const tally: Tally = { done: 0, minId: undefined, maxId: undefined };
  let failed = false;
  let issued = false;
  let inflight: InFlight | undefined;
  try {
    for (let start = 0; start < job.total; ) {
      const n = Math.min(job.batchRows, job.total - start);
      const batch = await buildBatch(rowFor, start, n, nextId);
      if (inflight) await settle(job, tally, inflight);
      const query = client.query<Result>(sql, batch);
      query.catch(() => {}); // handled in settle(); avoids an unhandled rejection meanwhile
      inflight = { n, query };
      issued = true;
      start += n;
    }
    const last = inflight!;
    inflight = undefined;
    await settle(job, tally, last);
  } catch (err) {
    failed = true;
    if (inflight) await inflight.query.catch(() => {}); // never release a busy client
    throw err;
  } finally {
    // Explicit ids bypassed the sequence; the committed batches stay even when a later one failed.
    if (job.sparse && issued) await advanceSequence(client, job.table, failed);
  }
  return tally;
}

/**
 * Inserts `rows` legacy rows (event_id left NULL) into `table` (default public.run_logs), creating the
 * table with LEGACY_RUN_LOGS_DDL when it does not exist. One statement per batch; the next batch is
 * generated while the current one is being inserted.
 */
export async function insertDemoRows(db: Queryable, options: InsertDemoOptions): Promise<DemoDataSummary> {
  const job = jobOf(options);
  const started = performance.now();
  // One connection: batches are inserted in order, so ids follow generation (and timestamp) order.
  // (Two connections in parallel did not pay off on a 2-core machine, and interleave sequence ids.)
  const client = isPool(db) ? await db.connect() : db;
  try {
    const createdTable = await ensureLegacyTable(client, job.table, job.logger);
    let nextId: (() => number) | undefined;
    if (job.sparse) nextId = sparseIdAllocator(job.seed, await highestIdUsed(client, job.table));
    const { done, minId, maxId } = await insertBatches(client, job, nextId);
    const seconds = Math.round(performance.now() - started) / 1000;
    return { rows: done, minId: String(minId), maxId: String(maxId), seconds, createdTable };
  } finally {
    if (isPool(db)) (client as pg.PoolClient).release();
  }
}
