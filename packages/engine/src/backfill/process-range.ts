// Process one primary-key range in batches: read (keyset) → compute ids → one UPDATE per batch.
// Pipelined: batch k+1 is read and computed while batch k's UPDATE runs, on its own connection.
// Used unchanged by `backfill run` (one process), by every BullMQ worker (one shard at a time) and by
// finalize. What may change while it runs is asked for before every batch: the batch-size policy and
// the rate budget (live settings), and the gate (pause, shutdown, health gates, windows).
import type pg from 'pg';
import { sleep, type TableRef } from '../db.js';
import { BackfillError, BadRowError, noteResumePoint } from '../errors.js';
import type { Hold } from '../health/gates.js';
import { holdBackoffMs } from '../health/gates.js';
import type { Logger } from '../logger.js';
import { backoffDelay } from '../migrate/lock-retry.js';
import { applyBatch, applyBatchInOrder, PredecessorFailedError } from './apply-batch.js';
import { recordBadRows } from './bad-rows.js';
import { type BatchSizePolicy, firstBatchSize, nextBatchSize } from './batch-size.js';
import type { ComputedBatch } from './compute.js';
import type { EventIdColumn } from './event-id-column.js';
import {
  ConnectionLostError,
  type ConnOptions,
  type Conns,
  closeConns,
  DEFAULT_RECONNECT_BUDGET_MS,
  openConns,
  outageError,
  reopenConns,
} from './range-connections.js';
import { type RowRateLimiter, unlimited } from './rate-limit.js';
import { readComputedBatch } from './read-batch.js';
import { isConnectionLost, isTimeout, isTransient } from './retry-policy.js';

export {
  ConnectionLostError,
  DEFAULT_RECONNECT_BUDGET_MS,
  IDLE_IN_TRANSACTION_MARGIN_MS,
} from './range-connections.js';

export type OnBadRow = 'fail' | 'skip';

export interface BatchReport {
  rowsRead: number;
  rowsUpdated: number;
  rowsSkipped: number;
  lastId: bigint;
  /** The size the batch was read with. */
  batchSize: number;
  /** From reading the batch to its commit. */
  ms: number;
  /** Its write alone (the UPDATE, and the checkpoint with it): what the adaptive size aims at. */
  writeMs: number;
  /** Up to 3 (id, event_id) pairs, for dry-run output. */
  sample: Array<{ id: string; eventId: string }>;
}

/** What the gate answers before each batch is written: write it, stop the range, or hold (and ask again). */
export type GateAnswer = 'go' | 'stop' | { hold: Hold };

export interface ProcessRangeOptions {
  pool: pg.Pool;
  table: TableRef;
  /** Last id already done: the range is (cursor, toId]. */
  cursor: bigint;
  toId: bigint;
  /** Rows per batch: fixed, unless batchPolicy is given (then only where it starts). */
  batchSize: number;
  /** Adaptive batch size (see batch-size.ts), asked before every batch so a change applies at once. */
  batchPolicy?: () => BatchSizePolicy;
  /**
   * The size to start at instead of the policy's initial one: where the last range of the same run
   * ended, so each shard does not grow from scratch again. Clamped to the policy's bounds.
   */
  startBatchSize?: number;
  /** false = dry run: read and compute, write nothing. */
  commit: boolean;
  onBadRow: OnBadRow;
  /** Name recorded with skipped bad rows (the run's name, when there is one). */
  runName?: string | null;
  /** Record each batch's progress in backfill_shards in the same statement as its UPDATE. */
  shard?: { runId: number; shardNo: number; epoch?: number };
  /** The rows-per-second budget: one limiter, or asked for before every batch (a live setting). */
  rateLimiter?: RowRateLimiter | (() => RowRateLimiter);
  /** Asked before each batch is written: 'stop' ends the range early (pause, shutdown); a hold waits. */
  gate?: () => Promise<GateAnswer | 'go' | 'stop'>;
  /** Told when a hold begins or changes (the hold) and when it ends (null). */
  onHold?: (hold: Hold | null) => void;
  signal?: AbortSignal;
  onBatch?: (b: BatchReport) => void;
  logger: Logger;
  /** Smallest batch a timeout may shrink to (without a batchPolicy). */
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
  /** Time spent held by a gate. */
  heldMs: number;
  /** The batch size at the end (adaptive sizing moves it). */
  batchSize: number;
}

/** Timeouts persisted even at the smallest batch size: a retryable fault for the caller (split). */
export class BatchTimeoutError extends BackfillError {
  override readonly kind = 'busy';
  override readonly retryable = true;
}

const abortableSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

type Batch = ComputedBatch & { size: number; readAt: number };
interface Inflight {
  batch: Batch;
  done: Promise<{ updated: number; ms: number }>;
}

export async function processRange(opts: ProcessRangeOptions): Promise<RangeResult> {
  const log = opts.logger;
  const maxRetries = opts.maxRetries ?? 8;
  const depth = Math.max(1, opts.writeDepth ?? 1);
  const fixed: BatchSizePolicy = {
    targetMs: 0,
    min: Math.min(opts.minBatchSize ?? 50, opts.batchSize),
    max: opts.batchSize,
    initial: opts.batchSize,
  };
  const policy = opts.batchPolicy ?? (() => fixed);
  const limiter = (): RowRateLimiter =>
    typeof opts.rateLimiter === 'function' ? opts.rateLimiter() : (opts.rateLimiter ?? unlimited);
  const connOptions: ConnOptions = {
    pool: opts.pool,
    writers: opts.commit ? depth : 0,
    ...(opts.statementTimeoutMs !== undefined && { statementTimeoutMs: opts.statementTimeoutMs }),
    ...(opts.lockTimeoutMs !== undefined && { lockTimeoutMs: opts.lockTimeoutMs }),
    ...(opts.reconnectBudgetMs !== undefined && { reconnectBudgetMs: opts.reconnectBudgetMs }),
  };
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
    heldMs: 0,
    batchSize:
      opts.startBatchSize !== undefined
        ? Math.max(policy().min, Math.min(policy().max, opts.startBatchSize))
        : firstBatchSize(policy()),
  };
  let initial = policy().initial;
  /** Where the range ends: a shard's end moves down when an idle worker splits its rest off. */
  let toId = opts.toId;
  let failures = 0;
  /** When the current database outage began (null: none). A committed batch ends it. */
  let outageSince: number | null = null;

  /** The size for the next read: the policy's, after an operator changed where it starts. */
  const sizeNow = () => {
    const p = policy();
    if (p.initial !== initial) {
      initial = p.initial;
      result.batchSize = firstBatchSize(p);
    }
    return result.batchSize;
  };
  const shrink = () => {
    result.batchSize = nextBatchSize(policy(), result.batchSize, { outcome: 'timeout' });
  };

  const fetch = (conns: Conns, cursor: bigint, size: number): Promise<Batch> => {
    const readAt = Date.now();
    const p = readComputedBatch(conns.reader, opts.table, cursor, toId, size).then((r) => {
      result.readMs += r.readMs;
      return { ...r.batch, size, readAt };
    });
    p.catch(() => {}); // awaited later (or abandoned on stop); never an unhandled rejection
    return p;
  };

  /**
   * Writes rows (ascending ids) and, with a shard, moves its checkpoint to `lastId` in the same
   * transaction. On a timeout it halves the rows after a backoff; the first half checkpoints only up to
   * its own last id, so a crash between the halves never skips the second half's rows.
   */
  const write = async (
    writer: pg.PoolClient | undefined,
    ids: string[],
    eids: EventIdColumn,
    xmins: string[],
    lastId: bigint,
    skipped: number,
    predecessor: Promise<unknown> | null,
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
        onShardEnd: (end: bigint) => {
          if (end < toId) {
            log.info({ toId: end.toString() }, 'shard split by an idle worker: ending early');
            toId = end;
          }
        },
      };
      const checkpoint = opts.shard && {
        ...opts.shard,
        lastId,
        rowsSkipped: skipped,
        batchSize: result.batchSize,
      };
      const n = checkpoint
        ? await applyBatchInOrder(writer, { ...input, checkpoint }, predecessor)
        : await applyBatch(writer, input);
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
      shrink();
      const delay = backoffDelay(failures, 200, 10_000);
      log.warn(
        { err: (err as Error).message, rows: ids.length, retryInMs: delay, batchSize: result.batchSize },
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

  /** Asks the gate until it says go or stop; a hold issues no UPDATE and backs off with jitter. */
  const askGate = async (): Promise<'go' | 'stop' | 'signal'> => {
    let heldSince: number | null = null;
    let last: Hold | null = null;
    for (;;) {
      if (opts.signal?.aborted) return 'signal';
      const answer = opts.gate ? await opts.gate() : 'go';
      if (answer === 'go' || answer === 'stop') {
        if (heldSince !== null) {
          result.heldMs += Date.now() - heldSince;
          log.info({ heldMs: Date.now() - heldSince }, 'gate cleared: writing again');
          opts.onHold?.(null);
        }
        return answer;
      }
      heldSince ??= Date.now();
      if (!last || last.gate !== answer.hold.gate || last.reason !== answer.hold.reason) {
        log.info(
          { gate: answer.hold.gate, value: answer.hold.value, threshold: answer.hold.threshold },
          `holding: ${answer.hold.reason}`,
        );
        opts.onHold?.(answer.hold);
      }
      last = answer.hold;
      await abortableSleep(holdBackoffMs(answer.hold, Date.now() - heldSince), opts.signal);
    }
  };

  /** Null between losing the connections and opening them again (never released twice). */
  let conns: Conns | null = await openConns(connOptions);
  // Writes in flight, oldest first. Their results are booked strictly in order, so the cursor only
  // ever covers batches that committed, with every batch before them committed too.
  let inflight: Inflight[] = [];
  let sent = 0;
  /** The last write sent: the next one commits only after it (null: it has committed). */
  let lastWrite: Promise<unknown> | null = null;
  const book = (batch: Batch, updated: number, writeMs: number) => {
    result.cursor = batch.lastId;
    result.rowsRead += batch.rowsRead;
    result.rowsUpdated += updated;
    result.rowsSkipped += batch.bad.length;
    result.batches++;
    failures = 0;
    outageSince = null;
    result.batchSize = nextBatchSize(policy(), result.batchSize, {
      outcome: 'ok',
      rows: batch.rowsRead,
      ms: writeMs,
    });
    opts.onBatch?.({
      rowsRead: batch.rowsRead,
      rowsUpdated: updated,
      rowsSkipped: batch.bad.length,
      lastId: batch.lastId,
      batchSize: batch.size,
      ms: Date.now() - batch.readAt,
      writeMs,
      sample: batch.ids.slice(0, 3).map((id, i) => ({ id, eventId: batch.eventIds.at(i) })),
    });
    if (batch.rowsRead < batch.size) result.complete = true;
  };
  /** Waits for the oldest writes until at most `keep` are in flight. */
  const drain = async (keep: number) => {
    while (inflight.length > keep) {
      const w = inflight[0]!;
      const { updated, ms } = await w.done; // a failed write stays first in line for settleAfterFailure
      inflight.shift();
      book(w.batch, updated, ms);
    }
  };
  /** After a failure: let every write finish; book the ones that committed in an unbroken prefix. */
  const settleAfterFailure = async () => {
    let contiguous = true;
    for (const w of inflight) {
      try {
        const { updated, ms } = await w.done;
        if (contiguous) book(w.batch, updated, ms);
      } catch {
        contiguous = false;
      }
    }
    inflight = [];
  };
  let pending: Promise<Batch> | null = fetch(conns, result.cursor, sizeNow());
  try {
    while (pending) {
      try {
        const batch: Batch = await pending;
        pending = null;
        if (batch.rowsRead === 0) {
          result.complete = true;
          break;
        }
        const go = await askGate();
        if (go !== 'go') {
          result.stoppedBy = go === 'signal' ? 'signal' : 'gate';
          break;
        }
        if (batch.bad.length && opts.onBadRow === 'fail') {
          const first = batch.bad[0]!;
          throw new BadRowError(first.id, first.reason);
        }
        await limiter().acquire(batch.ids.length, opts.signal);
        // Read ahead while this batch is written. A short batch means the range is exhausted.
        if (batch.rowsRead === batch.size) pending = fetch(conns!, batch.lastId, sizeNow());
        if (batch.bad.length && opts.commit) {
          // On the reader (autocommit, queued behind the read ahead): a writer may be mid-transaction.
          await recordBadRows(conns!.reader, opts.table, batch.bad, opts.runName ?? null);
        }
        const writer = conns!.writers[sent++ % Math.max(1, conns!.writers.length)];
        const t0 = performance.now();
        const done: Promise<{ updated: number; ms: number }> = write(
          writer,
          batch.ids,
          batch.eventIds,
          batch.xmins,
          batch.lastId,
          batch.bad.length,
          lastWrite,
        ).then((updated) => ({ updated, ms: performance.now() - t0 }));
        done.then(
          () => {
            if (lastWrite === done) lastWrite = null; // the next batch waits for nothing
          },
          () => {}, // awaited in drain(); never an unhandled rejection meanwhile
        );
        lastWrite = done;
        inflight.push({ batch, done });
        await drain(depth - 1);
        if (!pending) await drain(0);
      } catch (err) {
        await settleAfterFailure();
        if (!isConnectionLost(err) && !isTimeout(err) && !isTransient(err)) throw err;
        // A read timed out, or a connection dropped mid-batch. Whatever committed is durable and the
        // rest is still NULL, so resuming from the last confirmed cursor is exact.
        result.retries++;
        const lost = isConnectionLost(err);
        if (++failures > maxRetries) throw tooManyFailures(err, lost, failures, result.cursor);
        if (!lost) shrink();
        if (lost) outageSince ??= Date.now();
        const deadline =
          (outageSince ?? Date.now()) + (opts.reconnectBudgetMs ?? DEFAULT_RECONNECT_BUDGET_MS);
        const delay = backoffDelay(failures, 200, 10_000);
        if (lost && Date.now() + delay > deadline) throw outageError(err, opts);
        log.warn(
          {
            err: (err as Error).message,
            cursor: result.cursor.toString(),
            retryInMs: delay,
            batchSize: result.batchSize,
          },
          lost ? 'database connection lost: reconnecting' : 'batch read timed out: retrying smaller',
        );
        await pending?.catch(() => {});
        pending = null;
        closeConns(conns!, true);
        conns = null;
        await sleep(delay);
        conns = await reopenConns(connOptions, log, deadline);
        lastWrite = null;
        pending = fetch(conns, result.cursor, sizeNow());
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

function tooManyFailures(err: unknown, lost: boolean, failures: number, cursor: bigint): BackfillError {
  if (lost)
    return new ConnectionLostError(
      `lost the database connection ${failures} times: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  return new BatchTimeoutError(`reads kept timing out after id ${cursor}: ${(err as Error).message}`, {
    cause: err,
  });
}
