// Operator controls on a run: pause, resume, cancel, retry, recover. The ledger changes first (it is
// the truth, and what workers check before every batch), then the queue follows.
import {
  CheckFailedError,
  cancelShards,
  getRun,
  getShard,
  listShards,
  type RunRow,
  requeueShard,
  setRunStatus,
  UsageError,
} from '@backfill/engine';
import { shardJobId } from '@backfill/shared';
import type { ControlContext } from './context.js';
import { enqueueShards, openRunQueue, shardJobOptions } from './queues.js';
import { ensureEnqueued } from './start.js';

export async function requireRun(ctx: ControlContext, name: string): Promise<RunRow> {
  const run = await getRun(ctx.db, name);
  if (!run) throw new UsageError(`no run named "${name}" (see \`backfill status\`)`);
  return run;
}

async function withQueue<T>(
  ctx: ControlContext,
  run: RunRow,
  fn: (q: ReturnType<typeof openRunQueue>) => Promise<T>,
) {
  const queue = openRunQueue(run, ctx);
  try {
    return await fn(queue);
  } finally {
    await queue.close();
  }
}

/** Workers stop at their next batch boundary and hand their shards back; checkpoints stay. */
export async function pauseRun(ctx: ControlContext, name: string): Promise<RunRow> {
  const run = await requireRun(ctx, name);
  if (!(await setRunStatus(ctx.db, run.id, 'paused', ['running', 'paused']))) {
    throw new CheckFailedError(`run "${name}" is ${run.status}: only a running run can be paused`);
  }
  await withQueue(ctx, run, (q) => q.pause());
  return { ...run, status: 'paused' };
}

export async function resumeRun(ctx: ControlContext, name: string): Promise<RunRow> {
  const run = await requireRun(ctx, name);
  if (!(await setRunStatus(ctx.db, run.id, 'running', ['paused', 'running']))) {
    throw new CheckFailedError(`run "${name}" is ${run.status}: only a paused run can be resumed`);
  }
  await withQueue(ctx, run, (q) => q.resume());
  return { ...run, status: 'running' };
}

/** Stops the run for good: unfinished shards are cancelled, its queue removed. Rows done stay done. */
export async function cancelRun(
  ctx: ControlContext,
  name: string,
): Promise<{ run: RunRow; cancelledShards: number }> {
  const run = await requireRun(ctx, name);
  if (!(await setRunStatus(ctx.db, run.id, 'cancelled', ['running', 'paused', 'failed']))) {
    throw new CheckFailedError(`run "${name}" is ${run.status}: nothing to cancel`);
  }
  const cancelledShards = await cancelShards(ctx.db, run.id);
  await withQueue(ctx, run, (q) => q.obliterate({ force: true }));
  return { run: { ...run, status: 'cancelled' }, cancelledShards };
}

/** Puts failed shards (or one shard) back in the queue, resuming from their checkpoints. */
export async function retryShards(
  ctx: ControlContext,
  name: string,
  which: { failed: true } | { shardNo: number },
): Promise<number[]> {
  const run = await requireRun(ctx, name);
  if (!['running', 'paused', 'failed', 'completed'].includes(run.status)) {
    throw new CheckFailedError(`run "${name}" is ${run.status}: its shards cannot be retried`);
  }
  let targets: number[];
  if ('failed' in which) {
    targets = (await listShards(ctx.db, run.id, ['failed'])).map((s) => s.shardNo);
  } else {
    const shard = await getShard(ctx.db, run.id, which.shardNo);
    if (!shard) throw new UsageError(`run "${name}" has no shard ${which.shardNo}`);
    if (shard.status === 'split' || shard.status === 'completed') {
      throw new CheckFailedError(`shard ${which.shardNo} is ${shard.status}: nothing to retry`);
    }
    targets = [which.shardNo];
  }
  const retried: number[] = [];
  for (const shardNo of targets) {
    if (await requeueShard(ctx.db, run.id, shardNo, ['failed', 'queued', 'running'])) retried.push(shardNo);
  }
  if (retried.length === 0) return retried;
  // A failed or completed run has work again.
  await setRunStatus(ctx.db, run.id, 'running', ['failed', 'completed']);
  await withQueue(ctx, run, async (q) => {
    for (const shardNo of retried) {
      const job = await q.getJob(shardJobId(run.id, shardNo));
      const state = job ? await job.getState() : 'missing';
      if (job && (state === 'failed' || state === 'completed'))
        await job.retry(state, { resetAttemptsMade: true });
      else if (!job) {
        await q.add('shard', { runId: run.id, shardNo }, shardJobOptions(run.id, shardNo, run.settings));
      }
      // waiting/active/delayed: already on its way.
    }
  });
  return retried;
}

/**
 * The answer to a lost or flushed Redis: every unfinished shard is enqueued again from the ledger,
 * and a paused run's queue is paused again. Safe to run at any time.
 */
export async function recoverRun(
  ctx: ControlContext,
  name: string,
): Promise<{ run: RunRow; enqueued: number }> {
  const run = await requireRun(ctx, name);
  if (!['running', 'paused'].includes(run.status)) {
    throw new CheckFailedError(`run "${name}" is ${run.status}: nothing to recover`);
  }
  // Shards failed for good are not re-run by recover: that is `retry --failed`.
  const enqueued = await ensureEnqueued(ctx, run);
  if (run.status === 'paused') await withQueue(ctx, run, (q) => q.pause());
  else await withQueue(ctx, run, (q) => q.resume());
  return { run, enqueued };
}

export { enqueueShards };
