// Operator controls on a run: pause, resume, cancel, retry, recover. The ledger changes first (it is
// the truth, and what workers check before every batch), then the queue follows. Every front (CLI,
// HTTP API) calls these, so an action behaves the same wherever it is asked for.
import { ConflictError, NotFoundError, UsageError } from '@backfill/engine/errors';
import {
  ACTIVE_RUN_STATUSES,
  cancelShards,
  changeRunSettings,
  getRun,
  getShard,
  isTerminalShard,
  listRuns,
  listShards,
  RUN_STATUSES,
  type RunRow,
  type RunStatus,
  recordRunEvent,
  requeueShard,
  runStatusesInto,
  type SettingChange,
  settleRun,
  TERMINAL_RUN_STATUSES,
  transitionRun,
} from '@backfill/engine/ledger';
import { checkRunSettings, type RunSettings } from '@backfill/shared/settings';
import type { ControlContext } from './context.js';
import { applyParallelism, withRunQueue } from './queue/enqueue.js';
import { shardJobOptions } from './queue/jobs.js';
import { SHARD_JOB_NAME, shardJobId } from './queue/names.js';
import { type ReconcileReport, reconcileRun } from './reconcile.js';

/** A run whose shards an operator can still send back to work (a finished run becomes running again). */
const RETRYABLE_RUN_STATUSES = RUN_STATUSES.filter((s) => !TERMINAL_RUN_STATUSES.includes(s));

export async function requireRun(ctx: ControlContext, name: string): Promise<RunRow> {
  const run = await getRun(ctx.db, name);
  if (!run) throw new NotFoundError(`no run named "${name}" (see \`backfill status\`)`);
  return run;
}

/** Throws a ConflictError saying what the action needs, unless the run is in one of `allowed`. */
function requireStatus(run: RunRow, allowed: readonly RunStatus[], needs: string): void {
  if (!allowed.includes(run.status)) throw new ConflictError(`run "${run.name}" is ${run.status}: ${needs}`);
}

/** Workers stop at their next batch boundary and hand their shards back; checkpoints stay. */
export async function pauseRun(ctx: ControlContext, name: string): Promise<RunRow> {
  let run = await requireRun(ctx, name);
  requireStatus(run, ['running', 'paused'], 'only a running run can be paused');
  if (run.status === 'running') {
    run = await transitionRun(ctx.db, run.id, 'paused');
    await recordRunEvent(ctx.db, run.id, 'pause', 'paused');
  }
  await withRunQueue(ctx, run, (q) => q.pause());
  return run;
}

export async function resumeRun(ctx: ControlContext, name: string): Promise<RunRow> {
  let run = await requireRun(ctx, name);
  requireStatus(run, ['paused', 'running'], 'only a paused run can be resumed');
  if (run.status === 'paused') {
    run = await transitionRun(ctx.db, run.id, 'running');
    await recordRunEvent(ctx.db, run.id, 'resume', 'resumed');
  }
  await withRunQueue(ctx, run, (q) => q.resume());
  // The last shard may have ended while the run was paused: then there is nothing left to resume.
  if (await settleRun(ctx.db, run.id)) run = (await getRun(ctx.db, name)) ?? run;
  return run;
}

/** Stops the run for good: unfinished shards are cancelled, its queue removed. Rows done stay done. */
export async function cancelRun(
  ctx: ControlContext,
  name: string,
): Promise<{ run: RunRow; cancelledShards: number }> {
  let run = await requireRun(ctx, name);
  requireStatus(run, runStatusesInto('cancelled'), 'nothing to cancel');
  run = await transitionRun(ctx.db, run.id, 'cancelled');
  const cancelledShards = await cancelShards(ctx.db, run.id);
  await recordRunEvent(ctx.db, run.id, 'cancel', `cancelled (${cancelledShards} unfinished shards)`);
  await withRunQueue(ctx, run, (q) => q.obliterate({ force: true }));
  return { run, cancelledShards };
}

/** Puts failed shards (or one shard) back in the queue, resuming from their checkpoints. */
export async function retryShards(
  ctx: ControlContext,
  name: string,
  which: { failed: true } | { shardNo: number },
): Promise<number[]> {
  const run = await requireRun(ctx, name);
  requireStatus(run, RETRYABLE_RUN_STATUSES, 'its shards cannot be retried');
  let targets: number[];
  if ('failed' in which) {
    targets = (await listShards(ctx.db, run.id, ['failed'])).map((s) => s.shardNo);
  } else {
    const shard = await getShard(ctx.db, run.id, which.shardNo);
    if (!shard) throw new NotFoundError(`run "${name}" has no shard ${which.shardNo}`);
    if (isTerminalShard(shard.status)) {
      throw new ConflictError(`shard ${which.shardNo} is ${shard.status}: nothing to retry`);
    }
    targets = [which.shardNo];
  }
  const retried: number[] = [];
  for (const shardNo of targets) {
    if (await requeueShard(ctx.db, run.id, shardNo)) retried.push(shardNo);
  }
  if (retried.length === 0) return retried;
  await recordRunEvent(ctx.db, run.id, 'retry', `shards ${retried.join(', ')} requeued`, { shards: retried });
  // A failed or completed run has work again.
  if (run.status === 'failed' || run.status === 'completed') await transitionRun(ctx.db, run.id, 'running');
  await withRunQueue(ctx, run, async (q) => {
    await applyParallelism(q, run.settings.parallelism);
    for (const shardNo of retried) {
      const job = await q.getJob(shardJobId(run.id, shardNo));
      const state = job ? await job.getState() : 'missing';
      if (job && (state === 'failed' || state === 'completed'))
        await job.retry(state, { resetAttemptsMade: true });
      else if (!job) {
        await q.add(
          SHARD_JOB_NAME,
          { runId: run.id, shardNo },
          shardJobOptions(run.id, shardNo, run.settings),
        );
      }
      // waiting/active/delayed: already on its way.
    }
  });
  return retried;
}

/**
 * The answer to a lost or flushed Redis, or to a run that looks stuck: the reconciler brings the run's
 * queue in line with the ledger (missing jobs added, failed or completed jobs of pending shards retried,
 * orphaned running shards requeued, the queue paused or resumed as the run is) and settles the run if
 * nothing is pending. Reports what it changed. Safe to run at any time.
 */
export async function recoverRun(
  ctx: ControlContext,
  name: string,
): Promise<{ run: RunRow; report: ReconcileReport }> {
  const run = await requireRun(ctx, name);
  requireStatus(run, ACTIVE_RUN_STATUSES, 'nothing to recover');
  // Shards failed for good are not re-run by recover: that is `retry --failed`.
  const report = await reconcileRun(ctx, run);
  return { run: (await getRun(ctx.db, name)) ?? run, report };
}

/** Runs whose settings may still matter: anything not cancelled or finalized. */
const SETTABLE_RUN_STATUSES = RUN_STATUSES.filter((s) => !TERMINAL_RUN_STATUSES.includes(s));

/**
 * Changes a run's settings (rate cap, batch sizing, gates, window, timeouts) while it runs. The ledger
 * changes and every worker is notified: running shards use the new values from their next batch (a
 * worker that missed the notification reads them at its next poll). Each change is a run event with
 * its old and new value. Nothing changes when a value is refused.
 */
export async function setRunSettings(
  ctx: ControlContext,
  name: string,
  patch: Partial<RunSettings>,
  by = 'operator',
): Promise<{ run: RunRow; changes: SettingChange[] }> {
  const run = await requireRun(ctx, name);
  requireStatus(run, SETTABLE_RUN_STATUSES, 'its settings can no longer change');
  const next = validRunSettings({ ...run.settings, ...patch });
  const changes: SettingChange[] = [];
  for (const key of Object.keys(patch) as Array<keyof RunSettings>) {
    if (JSON.stringify(run.settings[key]) !== JSON.stringify(next[key]))
      changes.push({ key, from: run.settings[key], to: next[key] });
  }
  if (changes.length === 0) return { run, changes };
  const updated = await changeRunSettings(ctx.db, run.id, next, changes, by);
  ctx.logger.info({ run: name, changes }, 'run settings changed');
  if (changes.some((c) => c.key === 'parallelism')) {
    // At once here; the workers also bring the queue in line at their next poll, so a queue out of
    // reach now is not a failed change.
    await withRunQueue(ctx, run, (q) => applyParallelism(q, next.parallelism)).catch((err) =>
      ctx.logger.warn(
        { run: name, err: (err as Error).message },
        'parallelism: the queue is out of reach; the workers apply it at their next poll',
      ),
    );
  }
  return { run: updated, changes };
}

/** Settings as a whole: each value within its bounds, and together consistent. UsageError otherwise. */
export function validRunSettings(candidate: unknown): RunSettings {
  const r = checkRunSettings(candidate);
  if (!r.ok) throw new UsageError(`setting ${r.key}: ${r.message}`);
  return r.settings;
}

/** The panic switch: every running run paused; workers stop at their next batch boundary. */
export async function pauseAllRuns(ctx: ControlContext): Promise<RunRow[]> {
  const paused: RunRow[] = [];
  for (const run of await listRuns(ctx.db, ['running'])) paused.push(await pauseRun(ctx, run.name));
  return paused;
}
