// The reconciler: brings a run's queue in line with its ledger, which is the truth. For every shard
// with work pending (queued or running in the ledger) there must be a job that is waiting, delayed or
// active; a failed or completed job for it (a stall past maxStalledCount, a failure the ledger never
// heard of) is retried, a missing one (Redis flushed) added. A running shard whose job no worker holds
// goes back to queued. A run with nothing pending is settled. `recover` runs it for one run; workers run
// it for every run, one at a time across the fleet (an advisory lock), every reconcile interval.
import {
  ACTIVE_RUN_STATUSES,
  getRunById,
  isActiveRun,
  listRuns,
  listShards,
  markQueueCleared,
  PENDING_SHARD_STATUSES,
  type RunRow,
  requeueOrphanedShard,
  runsWithQueueToClear,
  type ShardRow,
  settleRun,
} from '@backfill/engine/ledger';
import type { Logger } from '@backfill/engine/logger';
import type { Job, JobState, Queue } from 'bullmq';
import type pg from 'pg';
import { enqueueShards, type QueueConfig, withRunQueue } from './queue/enqueue.js';
import type { ShardJobData } from './queue/names.js';
import { shardJobId } from './queue/names.js';

/** What a reconcile changed, shard numbers per kind of change: it reports only what it did. */
export interface ReconcileReport {
  run: string;
  /** Jobs added for pending shards that had none (Redis lost or flushed). */
  added: number[];
  /** Failed or completed jobs of pending shards, retried (their attempts reset). */
  retried: number[];
  /** Running shards whose job nobody held, back to queued in the ledger. */
  requeued: number[];
  /** The run's new status when reconciling finished it (no shard left pending). */
  settled: 'completed' | 'failed' | null;
  /** The queue was paused or resumed to match the run's status. */
  queuePauseFixed: boolean;
}

type ReconcileContext = QueueConfig & { db: pg.ClientBase; logger: Logger };

/** Jobs held by someone or on their way to someone: nothing to fix. */
const LIVE_STATES = new Set<JobState | 'unknown'>([
  'active',
  'waiting',
  'delayed',
  'prioritized',
  'waiting-children',
]);
const CHUNK = 500;

async function jobStates(queue: Queue<ShardJobData>, runId: number, shards: ShardRow[]) {
  const states: Array<JobState | 'unknown'> = [];
  for (let i = 0; i < shards.length; i += CHUNK) {
    // Sent together on one connection (ioredis pipelines concurrent commands).
    const slice = shards.slice(i, i + CHUNK);
    states.push(...(await Promise.all(slice.map((s) => queue.getJobState(shardJobId(runId, s.shardNo))))));
  }
  return states;
}

/** Brings one run's queue in line with its ledger; see the file comment. Safe to run at any time. */
export async function reconcileRun(ctx: ReconcileContext, run: RunRow): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    run: run.name,
    added: [],
    retried: [],
    requeued: [],
    settled: null,
    queuePauseFixed: false,
  };
  if (!isActiveRun(run.status)) return report;
  const pending = await listShards(ctx.db, run.id, PENDING_SHARD_STATUSES);
  await withRunQueue(ctx, run, async (queue) => {
    const states = await jobStates(queue, run.id, pending);
    const missing: ShardRow[] = [];
    for (const [i, shard] of pending.entries()) {
      const state = states[i]!;
      // The ledger first: once the job is back in the queue, a worker may claim the shard at once.
      if (shard.status === 'running' && state !== 'active') {
        const reason = `reconciled: running in the ledger, but no worker holds its job (${state})`;
        if (await requeueOrphanedShard(ctx.db, run.id, shard.shardNo, shard.epoch, reason))
          report.requeued.push(shard.shardNo);
      }
      if (state === 'unknown') missing.push(shard);
      else if (state === 'failed' || state === 'completed') {
        const job = (await queue.getJob(shardJobId(run.id, shard.shardNo))) as Job | undefined;
        if (job) {
          await job.retry(state, { resetAttemptsMade: true });
          report.retried.push(shard.shardNo);
        } else missing.push(shard); // removed meanwhile
      } else if (!LIVE_STATES.has(state)) {
        ctx.logger.warn({ run: run.name, shardNo: shard.shardNo, state }, 'shard job in an unexpected state');
      }
    }
    if (missing.length) {
      await enqueueShards(queue, run.id, missing, run.order, run.settings);
      report.added.push(...missing.map((s) => s.shardNo));
    }
    const paused = await queue.isPaused();
    if (run.status === 'paused' && !paused) {
      await queue.pause();
      report.queuePauseFixed = true;
    } else if (run.status === 'running' && paused) {
      await queue.resume();
      report.queuePauseFixed = true;
    }
  });
  report.settled = await settleRun(ctx.db, run.id);
  const changed = report.added.length + report.retried.length + report.requeued.length;
  if (changed || report.settled || report.queuePauseFixed) ctx.logger.info({ ...report }, 'reconciled run');
  return report;
}

/**
 * A finished run's queue is removed from Redis (the ledger keeps its history). Not while a job is still
 * active in it (the worker that finished the last shard is moving its job to completed): next time.
 */
export async function clearFinishedQueue(ctx: ReconcileContext, run: RunRow): Promise<boolean> {
  const cleared = await withRunQueue(ctx, run, async (queue) => {
    try {
      await queue.obliterate({ force: false });
      return true;
    } catch (err) {
      ctx.logger.debug({ run: run.name, err: (err as Error).message }, 'queue not cleared yet');
      return false;
    }
  });
  if (cleared) {
    // Still finished? A retry between our read and now made it active again, with jobs just added.
    const now = await getRunById(ctx.db, run.id);
    if (now && !isActiveRun(now.status)) await markQueueCleared(ctx.db, run.id);
  }
  return cleared;
}

/** One pass over the whole ledger: every active run reconciled, every finished run's queue cleared. */
export async function reconcileAll(ctx: ReconcileContext): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  for (const run of await listRuns(ctx.db, ACTIVE_RUN_STATUSES)) reports.push(await reconcileRun(ctx, run));
  for (const run of await runsWithQueueToClear(ctx.db)) await clearFinishedQueue(ctx, run);
  return reports;
}
