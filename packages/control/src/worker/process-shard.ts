// One BullMQ job = one shard: claim it in the ledger, run the batch engine from its checkpoint, and
// record how it ended. Permanent faults fail the shard at once; timeouts split it; the rest retry.

import { setTimeout as delay } from 'node:timers/promises';
import {
  BatchTimeoutError,
  ConnectionLostError,
  isConnectionLost,
  isSchemaFault,
  processRange,
} from '@backfill/engine/backfill';
import { withPoolClient } from '@backfill/engine/db';
import {
  AtParallelismError,
  BadRowError,
  SchemaError,
  ShardTakenOverError,
  UnavailableError,
} from '@backfill/engine/errors';
import {
  claimShard,
  completeShard,
  failShard,
  releaseShard,
  settleRun,
  shardRangeOptions,
  splitShard,
} from '@backfill/engine/ledger';
import type { Logger } from '@backfill/engine/logger';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type pg from 'pg';
import { enqueueShards, withRunQueue } from '../queue/enqueue.js';
import { ShardJobData } from '../queue/names.js';
import type { QueueTransport } from '../queue/transport.js';
import { type ControlDeps, shardControls } from './shard-controls.js';

export interface ShardDeps extends ControlDeps {
  pool: pg.Pool;
  transport: QueueTransport;
  workerId: string;
  /** UPDATEs in flight per shard (WorkerSettings.writers). */
  writers: number;
  /** How long a shard keeps reconnecting to a lost database before it is handed back (the lock duration). */
  reconnectBudgetMs: number;
  /** Told when PostgreSQL cannot be reached: the worker stops taking shards until it answers again. */
  onDatabaseUnreachable: (err: Error) => void;
  logger: Logger;
}

export type ShardOutcome =
  | { outcome: 'completed'; rowsUpdated: number; rowsSkipped: number; batches: number; runCompleted: boolean }
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'split'; into: number[] };

/** A job handed back to the queue untouched because PostgreSQL cannot be reached (no attempt used). */
const HAND_BACK_DELAY_MS = 1000;

/** PostgreSQL is unreachable (not: a statement failed). */
const databaseUnreachable = (err: unknown) =>
  err instanceof ConnectionLostError || err instanceof UnavailableError || isConnectionLost(err);

/**
 * The database is gone for this worker: nothing can be written to the ledger, so the job goes back to
 * the queue as it is (a delayed job uses no attempt) for a worker that can reach it, and this worker
 * stops taking jobs until PostgreSQL answers. The ledger still says running with this claim's epoch;
 * the next claim supersedes it.
 */
async function handBack(
  job: Job,
  token: string | undefined,
  deps: ShardDeps,
  err: Error,
  log: Logger,
): Promise<never> {
  log.warn({ err: err.message }, 'PostgreSQL unreachable: handing the shard back to the queue');
  deps.onDatabaseUnreachable(err);
  await job.moveToDelayed(Date.now() + HAND_BACK_DELAY_MS, token);
  throw new DelayedError();
}

const withClient = withPoolClient;

/** How long a slot holding a job at the run's parallelism waits for a turn before handing it back. */
const TURN_WAIT_MS = 5000;
/** How often it asks the ledger meanwhile (jittered by up to half of this). */
const TURN_POLL_MS = 200;

/**
 * The claim, at the run's parallelism: the slot keeps the job and asks again every TURN_POLL_MS for up
 * to TURN_WAIT_MS, so a shard that ends lets the next one in within a poll. Handing the job straight
 * back to the queue (delayed 1–2 s) left both of a fleet's UPDATE streams short at every wave of
 * shards: measured on PostgreSQL queues, 2 workers ran at 0.79 × the same fleet on Redis, where BullMQ's
 * own limit holds the jobs back instead. Throws AtParallelismError when no turn came (or the run
 * stopped running, or the worker is stopping), for the caller to hand the job back.
 */
async function claimInTurn(
  deps: ShardDeps,
  runId: number,
  shardNo: number,
  log: Logger,
  signal?: AbortSignal,
) {
  const deadline = Date.now() + TURN_WAIT_MS;
  for (let tries = 0; ; tries++) {
    const run = deps.runs.get(runId);
    const parallelism = run?.settings.parallelism ?? RUN_SETTINGS_DEFAULTS.parallelism;
    try {
      return await withClient(deps.pool, (c) => claimShard(c, runId, shardNo, deps.workerId, parallelism));
    } catch (err) {
      const waitMore =
        run?.status === 'running' && !signal?.aborted && !deps.isShuttingDown() && Date.now() < deadline;
      if (!(err instanceof AtParallelismError) || !waitMore) throw err;
      if (tries === 0) log.debug({ parallelism }, 'at the run parallelism: waiting in the slot for a turn');
    }
    await delay(TURN_POLL_MS + Math.floor((Math.random() * TURN_POLL_MS) / 2), undefined, {
      ...(signal && { signal }),
    }).catch(() => {}); // aborted: the next turn sees it and hands the job back
  }
}

const PERMANENT = [BadRowError, SchemaError];

export async function processShardJob(
  job: Job,
  token: string | undefined,
  deps: ShardDeps,
  signal?: AbortSignal,
): Promise<ShardOutcome> {
  const { runId, shardNo } = ShardJobData.parse(job.data);
  const log = deps.logger.child({ runId, shardNo, jobId: job.id, attempt: job.attemptsMade + 1 });
  const run = deps.runs.get(runId);
  if (!run) return { outcome: 'skipped', reason: 'run is not active' };
  if (run.status === 'paused') {
    // The queue is paused too; if that did not reach Redis, do not spin on the job.
    await job.moveToDelayed(Date.now() + 5000, token);
    throw new DelayedError();
  }
  let shard: Awaited<ReturnType<typeof claimShard>>;
  try {
    shard = await claimInTurn(deps, runId, shardNo, log, signal);
  } catch (err) {
    if (databaseUnreachable(err)) return handBack(job, token, deps, err as Error, log);
    if (err instanceof AtParallelismError) {
      // No turn came while the slot waited: back to the queue for a while (on Redis queues BullMQ's
      // own limit rarely lets it get this far; PostgreSQL queues rely on this check).
      log.debug(
        { parallelism: run.settings.parallelism },
        'at the run parallelism: the shard waits its turn in the queue',
      );
      await job.moveToDelayed(Date.now() + HAND_BACK_DELAY_MS + Math.floor(Math.random() * 1000), token);
      throw new DelayedError();
    }
    throw err;
  }
  if (!shard) return { outcome: 'skipped', reason: 'shard needs no work' };
  log.info(
    {
      fromId: shard.fromId.toString(),
      toId: shard.toId.toString(),
      checkpointId: shard.checkpointId?.toString() ?? null,
    },
    'shard claimed',
  );

  const rangeStarted = performance.now();
  const activity = deps.activity.begin(runId, shardNo, run.settings.batchSize);
  const controls = shardControls(deps, run, activity);
  try {
    const result = await processRange({
      pool: deps.pool,
      ...shardRangeOptions(run, shard),
      writeDepth: deps.writers,
      reconnectBudgetMs: deps.reconnectBudgetMs,
      ...(signal && { signal }),
      ...controls,
      onBatch: (b) => {
        deps.budgets.count(run, b.rowsUpdated);
        activity.rowsUpdated += b.rowsUpdated;
        activity.batchSize = b.batchSize;
        deps.lastBatchSizes.set(deps.runs.get(runId) ?? run, b.batchSize);
        const labels = { run: run.name };
        deps.metrics.rows.inc(labels, b.rowsUpdated);
        deps.metrics.batches.inc(labels);
        deps.metrics.batchSeconds.observe(labels, b.writeMs / 1000);
        deps.metrics.batchSize.set(labels, b.batchSize);
        deps.metrics.rateCap.set(labels, (deps.runs.get(runId) ?? run).settings.maxRowsPerSecond);
        log.debug(
          {
            rows: b.rowsUpdated,
            lastId: b.lastId.toString(),
            ms: b.ms,
            writeMs: Math.round(b.writeMs),
            batchSize: b.batchSize,
          },
          'batch',
        );
      },
      logger: log,
    });
    let stopReason = controls.stopReason();
    if (!result.complete) {
      const lockLost = result.stoppedBy === 'signal';
      if (lockLost) stopReason = `lock lost: ${String(signal?.reason ?? 'job cancelled')}`;
      await withClient(deps.pool, (c) =>
        releaseShard(c, runId, shardNo, deps.workerId, stopReason, shard.epoch),
      );
      log.info({ reason: stopReason, checkpointId: result.cursor.toString() }, 'shard released');
      // Without the job's lock, BullMQ can no longer move it: whoever holds it now (or the stalled-job
      // check) does.
      if (lockLost) return { outcome: 'skipped', reason: stopReason };
      if (deps.isShuttingDown()) {
        await job.moveToWait(token); // another worker takes it from the checkpoint right away
        throw new WaitingError();
      }
      if (deps.runs.get(runId)) {
        await job.moveToDelayed(Date.now() + 2000, token); // paused: lands in the paused queue
        throw new DelayedError();
      }
      return { outcome: 'skipped', reason: stopReason };
    }
    const done = await withClient(deps.pool, (c) =>
      completeShard(c, runId, shardNo, deps.workerId, shard.epoch),
    );
    log.info(
      {
        rowsUpdated: result.rowsUpdated,
        rowsRewritten: result.rowsRewritten,
        rowsSkipped: result.rowsSkipped,
        runCompleted: done.runCompleted,
        rangeMs: Math.round(performance.now() - rangeStarted),
        readMs: Math.round(result.readMs),
        writeMs: Math.round(result.writeMs),
        heldMs: result.heldMs,
        batchSize: result.batchSize,
      },
      'shard completed',
    );
    return {
      outcome: 'completed',
      rowsUpdated: result.rowsUpdated,
      rowsSkipped: result.rowsSkipped,
      batches: result.batches,
      runCompleted: done.runCompleted,
    };
  } catch (err) {
    if (err instanceof WaitingError || err instanceof DelayedError) throw err;
    if (databaseUnreachable(err)) return handBack(job, token, deps, err as Error, log);
    return handleFailure(err as Error, job, deps, log, runId, shardNo, shard.epoch);
  } finally {
    deps.activity.end(activity);
  }
}

async function handleFailure(
  fault: Error,
  job: Job,
  deps: ShardDeps,
  log: Logger,
  runId: number,
  shardNo: number,
  epoch: number,
): Promise<ShardOutcome> {
  if (fault instanceof ShardTakenOverError) {
    // Stalled past the lock (GC pause, SIGSTOP, slow network): another worker owns the shard now and
    // every write of ours is refused. Stop, and leave the ledger to the owner.
    log.warn({ err: fault.message }, 'shard taken over by another worker: stopping it');
    return { outcome: 'skipped', reason: 'taken over by another worker' };
  }
  // A column dropped or retyped under the run reaches us as pg's DatabaseError: name it for what it is.
  const err = isSchemaFault(fault)
    ? new SchemaError(`the table no longer fits the run: ${fault.message}`, { cause: fault })
    : fault;
  const errorClass = err.constructor?.name ?? 'Error';
  if (err instanceof BatchTimeoutError) {
    const children = await withClient(deps.pool, (c) => splitShard(c, runId, shardNo, err.message, epoch));
    if (children.length) {
      const run = deps.runs.get(runId);
      const settings = run?.settings ?? RUN_SETTINGS_DEFAULTS;
      await withRunQueue(deps, run ?? { id: runId, queue: null }, (queue) =>
        enqueueShards(queue, runId, children, run?.order ?? 'asc', settings),
      );
      log.warn(
        { err: err.message, into: children.map((c) => c.shardNo) },
        'shard kept timing out: split in two',
      );
      return { outcome: 'split', into: children.map((c) => c.shardNo) };
    }
  }
  const permanent = PERMANENT.some((E) => err instanceof E);
  const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  await withClient(deps.pool, async (c) => {
    await failShard(c, {
      runId,
      shardNo,
      worker: deps.workerId,
      errorClass,
      message: err.message,
      final,
      epoch,
    });
    if (final) await settleRun(c, runId);
  }).catch((e) => log.error({ err: (e as Error).message }, 'could not record the failure in the ledger'));
  log.error(
    { err: err.message, errorClass, final, permanent },
    final ? 'shard failed' : 'shard attempt failed: will retry',
  );
  if (permanent) throw new UnrecoverableError(`${errorClass}: ${err.message}`);
  throw err;
}
