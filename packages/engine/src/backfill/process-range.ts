// Process one primary-key range in batches: read (keyset) → compute ids → one UPDATE per batch.
// Pipelined on two connections: batch k+1 is read and computed while batch k's UPDATE runs.
// Used unchanged by `backfill run` (one process) and by every BullMQ worker (one shard at a time).
import type pg from 'pg';
import { sleep, type TableRef } from '../db.js';
import { BackfillError, BadRowError, noteResumePoint } from '../errors.js';
import type { Logger } from '../logger.js';
import { backoffDelay } from '../migrate/lock-retry.js';
import { setSilenceDeadline, silenceDeadline } from '../silence-watchdog.js';
import { applyBatch, applyBatchInOrder, PredecessorFailedError } from './apply-batch.js';
import { recordBadRows } from './bad-rows.js';
import type { ComputedBatch } from './compute.js';
import type { EventIdColumn } from './event-id-column.js';
import { type RowRateLimiter, unlimited } from './rate-limit.js';
import { readComputedBatch } from './read-batch.js';
import { isConnectionLost, isTimeout, isTransient } from './retry-policy.js';

export type OnBadRow = 'fail' | 'skip';

/** How much longer than statement_timeout a backfill session may sit idle inside a transaction. */
export const IDLE_IN_TRANSACTION_MARGIN_MS = 5000;

/** How long a range keeps reconnecting to a database it lost before giving up (reconnectBudgetMs). */
export const DEFAULT_RECONNECT_BUDGET_MS = 60_000;

export interface BatchReport {
  rowsRead: number;
  rowsUpdated: number;
  rowsSkipped: number;
  lastId: bigint;
  batchSize: number;
  ms: number;
  /** Up to 3 (id, event_id) pairs, for dry-run output. */
  sample: Array<{ id: string; eventId: string }>;
}

export interface ProcessRangeOptions {
  pool: pg.Pool;
  table: TableRef;
  /** Last id already done: the range is (cursor, toId]. */
  cursor: bigint;
  toId: bigint;
  batchSize: number;
  /** false = dry run: read and compute, write nothing. */
  commit: boolean;
  onBadRow: OnBadRow;
  /** Name recorded with skipped bad rows (the run's name, when there is one). */
  runName?: string | null;
  /** Record each batch's progress in backfill_shards in the same statement as its UPDATE. */
  shard?: { runId: number; shardNo: number; epoch?: number };
  rateLimiter?: RowRateLimiter;
  /** Asked before each batch is written: 'stop' ends the range early (pause, shutdown, health). */
  gate?: () => Promise<'go' | 'stop'>;
  signal?: AbortSignal;
  onBatch?: (b: BatchReport) => void;
  logger: Logger;
  /** Smallest batch a timeout may shrink to before the range gives up. */
  minBatchSize?: number;
  /** Tries per batch for timeouts and lost connections. */
  maxRetries?: number;
  /**
   * How long the range may go without a working database connection (reconnecting with backoff)
   * before it gives up with ConnectionLostError (default 60 s). Counted from the first failure of an
   * outage; a committed batch ends the outage.
   */
  reconnectBudgetMs?: number;
  /**
   * UPDATE statements in flight at once, each on its own connection (default 1). With a shard ledger
   * and more than one, each batch commits (and moves the checkpoint) only after the one before it.
   */
  writeDepth?: number;
  /** Set on the range's connections (pooled connections may come with other values). */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
}

export interface RangeResult {
  rowsRead: number;
  rowsUpdated: number;
  rowsSkipped: number;
  /** Rows edited between their batch's read and its write: written again from their new content. */
  rowsRewritten: number;
  batches: number;
  /** Last id done; resume with cursor = this. */
  cursor: bigint;
  /** true when the whole range was processed; false when stopped by signal or gate. */
  complete: boolean;
  stoppedBy?: 'signal' | 'gate';
  retries: number;
  /** Statement latency seen by the client (loopback ≈ database time): what the backfill costs the DB. */
  readMs: number;
  writeMs: number;
}

/** Timeouts persisted even at the smallest batch size: a retryable fault for the caller (split). */
export class BatchTimeoutError extends BackfillError {
  override readonly kind = 'busy';
  override readonly retryable = true;
}

/** The connection kept dropping, or could not be made again in time. Retryable: the range resumes from its checkpoint. */
export class ConnectionLostError extends BackfillError {
  override readonly kind = 'unavailable';
  override readonly retryable = true;
}

interface Conns {
  reader: pg.PoolClient;
  /** Empty in a dry run. */
  writers: pg.PoolClient[];
}

async function openConns(opts: ProcessRangeOptions, depth: number): Promise<Conns> {
  const reader = await opts.pool.connect();
  const writers: pg.PoolClient[] = [];
  try {
    if (opts.commit) for (let i = 0; i < depth; i++) writers.push(await opts.pool.connect());
    const settings: string[] = [];
    if (opts.statementTimeoutMs !== undefined)
      settings.push(`SET statement_timeout = ${Math.trunc(opts.statementTimeoutMs)}`);
    if (opts.lockTimeoutMs !== undefined)
      settings.push(`SET lock_timeout = ${Math.trunc(opts.lockTimeoutMs)}`);
    // A transaction whose client vanished (a partition, a frozen process) is rolled back by the server
    // after this long, releasing the rows it locked: the bound on how long the backfill can hold a row.
    if (opts.statementTimeoutMs !== undefined)
      settings.push(
        `SET idle_in_transaction_session_timeout = ${Math.trunc(opts.statementTimeoutMs) + IDLE_IN_TRANSACTION_MARGIN_MS}`,
      );
    if (settings.length) {
      for (const c of [reader, ...writers]) await c.query(settings.join('; '));
    }
    if (opts.statementTimeoutMs !== undefined) {
      const deadline = silenceDeadline(opts.statementTimeoutMs);
      for (const c of [reader, ...writers]) setSilenceDeadline(c, deadline);
    }
    return { reader, writers };
  } catch (err) {
    reader.release(true);
    for (const w of writers) w.release(true);
    throw err;
  }
}

function closeConns(c: Conns, broken: boolean): void {
  c.reader.release(broken);
  for (const w of c.writers) w.release(broken);
}

export async function processRange(opts: ProcessRangeOptions): Promise<RangeResult> {
  const log = opts.logger;
  const maxRetries = opts.maxRetries ?? 8;
  const depth = Math.max(1, opts.writeDepth ?? 1);
  const ordered = opts.shard !== undefined && depth > 1;
  const minBatch = Math.min(opts.minBatchSize ?? 50, opts.batchSize);
  const limiter = opts.rateLimiter ?? unlimited;
  const result: RangeResult = {
    rowsRead: 0,
    rowsUpdated: 0,
    rowsSkipped: 0,
    rowsRewritten: 0,
    batches: 0,
    cursor: opts.cursor,
    complete: false,
    retries: 0,
    readMs: 0,
    writeMs: 0,
  };
  let batchSize = opts.batchSize;
  let cleanStreak = 0;
  let failures = 0;
  /** When the current database outage began (null: none). A committed batch ends it. */
  let outageSince: number | null = null;

  const fetch = (conns: Conns, cursor: bigint, size: number): Promise<ComputedBatch & { size: number }> => {
    const p = readComputedBatch(conns.reader, opts.table, cursor, opts.toId, size).then((r) => {
      result.readMs += r.readMs;
      return { ...r.batch, size };
    });
    p.catch(() => {}); // awaited later (or abandoned on stop); never an unhandled rejection
    return p;
  };

  /**
   * Writes rows (ascending ids) and, with a shard, moves its checkpoint to `lastId` in the same
   * statement. On a timeout it halves the rows after a backoff; the first half checkpoints only up to
   * its own last id, so a crash between the halves never skips the second half's rows.
   */
  const write = async (
    writer: pg.PoolClient | undefined,
    ids: string[],
    eids: EventIdColumn,
    xmins: string[],
    lastId: bigint,
    skipped: number,
    predecessor: Promise<unknown>,
  ): Promise<number> => {
    if (!writer) return ids.length; // dry run: what would be written
    const t0 = performance.now();
    try {
      const input = {
        table: opts.table,
        ids,
        eventIds: eids,
        xmins,
        badRows: { mode: opts.onBadRow ?? 'fail', runName: opts.runName ?? null },
        onRewritten: (n: number) => {
          result.rowsRewritten += n;
        },
      };
      const checkpoint = opts.shard && { ...opts.shard, lastId, rowsSkipped: skipped };
      const n =
        ordered && checkpoint
          ? await applyBatchInOrder(writer, { ...input, checkpoint }, predecessor)
          : await applyBatch(writer, { ...input, ...(checkpoint && { checkpoint }) });
      result.writeMs += performance.now() - t0;
      return n;
    } catch (err) {
      if (err instanceof PredecessorFailedError || (!isTimeout(err) && !isTransient(err))) throw err;
      result.retries++;
      if (++failures > maxRetries || ids.length <= 1) {
        throw new BatchTimeoutError(
          `batch ending at id ${lastId} kept timing out (${failures} tries, down to ${ids.length} rows): ${(err as Error).message}`,
          { cause: err },
        );
      }
      batchSize = Math.max(minBatch, Math.floor(batchSize / 2));
      cleanStreak = 0;
      const delay = backoffDelay(failures, 200, 10_000);
      log.warn(
        { err: (err as Error).message, rows: ids.length, retryInMs: delay, batchSize },
        'batch write timed out: retrying in halves',
      );
      await sleep(delay);
      const mid = Math.ceil(ids.length / 2);
      const first = await write(
        writer,
        ids.slice(0, mid),
        eids.slice(0, mid),
        xmins.slice(0, mid),
        BigInt(ids[mid - 1]!),
        skipped,
        predecessor,
      );
      return (
        first +
        (await write(writer, ids.slice(mid), eids.slice(mid), xmins.slice(mid), lastId, 0, predecessor))
      );
    }
  };

  /** Null between losing the connections and opening them again (never released twice). */
  let conns: Conns | null = await openConns(opts, depth);
  type Batch = Awaited<ReturnType<typeof fetch>>;
  // Writes in flight, oldest first. Their results are booked strictly in order, so the cursor only
  // ever covers batches that committed, with every batch before them committed too.
  let inflight: Array<{ batch: Batch; started: number; done: Promise<number> }> = [];
  let sent = 0;
  /** The last write sent: in ordered mode the next one commits only after it. */
  let lastWrite: Promise<unknown> = Promise.resolve();
  const book = (batch: Batch, updated: number, started: number) => {
    result.cursor = batch.lastId;
    result.rowsRead += batch.rowsRead;
    result.rowsUpdated += updated;
    result.rowsSkipped += batch.bad.length;
    result.batches++;
    failures = 0;
    outageSince = null;
    if (++cleanStreak >= 5 && batchSize < opts.batchSize) {
      batchSize = Math.min(opts.batchSize, Math.ceil(batchSize * 1.5)); // recover after timeouts
      cleanStreak = 0;
    }
    opts.onBatch?.({
      rowsRead: batch.rowsRead,
      rowsUpdated: updated,
      rowsSkipped: batch.bad.length,
      lastId: batch.lastId,
      batchSize: batch.size,
      ms: Date.now() - started,
      sample: batch.ids.slice(0, 3).map((id, i) => ({ id, eventId: batch.eventIds.at(i) })),
    });
    if (batch.rowsRead < batch.size) result.complete = true;
  };
  /** Waits for the oldest writes until at most `keep` are in flight. */
  const drain = async (keep: number) => {
    while (inflight.length > keep) {
      const w = inflight[0]!;
      const n = await w.done; // a failed write stays first in line for settleAfterFailure
      inflight.shift();
      book(w.batch, n, w.started);
    }
  };
  /** After a failure: let every write finish; book the ones that committed in an unbroken prefix. */
  const settleAfterFailure = async () => {
    let contiguous = true;
    for (const w of inflight) {
      try {
        const n = await w.done;
        if (contiguous) book(w.batch, n, w.started);
      } catch {
        contiguous = false;
      }
    }
    inflight = [];
  };
  let pending: ReturnType<typeof fetch> | null = fetch(conns, result.cursor, batchSize);
  try {
    while (pending) {
      let batch: Awaited<ReturnType<typeof fetch>>;
      const started = Date.now();
      try {
        batch = await pending;
        pending = null;
        if (batch.rowsRead === 0) {
          result.complete = true;
          break;
        }
        if (opts.signal?.aborted) {
          result.stoppedBy = 'signal';
          break;
        }
        if (opts.gate && (await opts.gate()) === 'stop') {
          result.stoppedBy = 'gate';
          break;
        }
        if (batch.bad.length && opts.onBadRow === 'fail') {
          const first = batch.bad[0]!;
          throw new BadRowError(first.id, first.reason);
        }
        await limiter.acquire(batch.ids.length, opts.signal);
        // Read ahead while this batch is written. A short batch means the range is exhausted.
        if (batch.rowsRead === batch.size) pending = fetch(conns, batch.lastId, batchSize);
        if (batch.bad.length && opts.commit) {
          // On the reader (autocommit, queued behind the read ahead): a writer may be mid-transaction.
          await recordBadRows(conns.reader, opts.table, batch.bad, opts.runName ?? null);
        }
        const writer = conns.writers[sent++ % Math.max(1, conns.writers.length)];
        const done = write(
          writer,
          batch.ids,
          batch.eventIds,
          batch.xmins,
          batch.lastId,
          batch.bad.length,
          lastWrite,
        );
        done.catch(() => {}); // awaited in drain(); never an unhandled rejection meanwhile
        lastWrite = done;
        inflight.push({ batch, started, done });
        await drain(depth - 1);
        if (!pending) await drain(0);
      } catch (err) {
        await settleAfterFailure();
        if (!isConnectionLost(err) && !isTimeout(err) && !isTransient(err)) throw err;
        // A read timed out, or a connection dropped mid-batch. Whatever committed is durable and the
        // rest is still NULL, so resuming from the last confirmed cursor is exact.
        result.retries++;
        if (++failures > maxRetries) {
          if (isConnectionLost(err))
            throw new ConnectionLostError(
              `lost the database connection ${failures} times: ${(err as Error).message}`,
              { cause: err },
            );
          throw new BatchTimeoutError(
            `reads kept timing out after id ${result.cursor}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        const lost = isConnectionLost(err);
        if (!lost) batchSize = Math.max(minBatch, Math.floor(batchSize / 2));
        if (lost) outageSince ??= Date.now();
        const deadline =
          (outageSince ?? Date.now()) + (opts.reconnectBudgetMs ?? DEFAULT_RECONNECT_BUDGET_MS);
        const delay = backoffDelay(failures, 200, 10_000);
        if (lost && Date.now() + delay > deadline) throw outage(err, opts);
        log.warn(
          { err: (err as Error).message, cursor: result.cursor.toString(), retryInMs: delay, batchSize },
          lost ? 'database connection lost: reconnecting' : 'batch read timed out: retrying smaller',
        );
        await pending?.catch(() => {});
        pending = null;
        closeConns(conns!, true);
        conns = null;
        await sleep(delay);
        conns = await reopen(opts, depth, log, deadline);
        lastWrite = Promise.resolve();
        pending = fetch(conns, result.cursor, batchSize);
      }
    }
    await drain(0); // stopped by signal or gate: the writes already sent still count
  } catch (err) {
    noteResumePoint(err, result.cursor);
    throw err;
  } finally {
    await pending?.catch(() => {});
    if (conns) closeConns(conns, false);
  }
  return result;
}

/**
 * Opens the range's connections again after a loss, with backoff, until `deadline` (epoch ms): then
 * the database is given up on with ConnectionLostError (kind "unavailable").
 */
async function reopen(
  opts: ProcessRangeOptions,
  depth: number,
  log: Logger,
  deadline: number,
): Promise<Conns> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openConns(opts, depth);
    } catch (err) {
      if (!isConnectionLost(err)) throw err;
      const delay = backoffDelay(attempt, 500, 10_000);
      if (Date.now() + delay > deadline) throw outage(err, opts);
      log.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot reconnect to the database yet');
      await sleep(delay);
    }
  }
}

function outage(err: unknown, opts: ProcessRangeOptions): ConnectionLostError {
  const budget = Math.round((opts.reconnectBudgetMs ?? DEFAULT_RECONNECT_BUDGET_MS) / 1000);
  return new ConnectionLostError(
    `PostgreSQL could not be reached again within ${budget}s (the reconnect budget): ${(err as Error).message}`,
    { cause: err },
  );
}
