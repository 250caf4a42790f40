// `backfill status`: progress from the ledger, queue state from BullMQ, rate from the per-second
// counters the workers keep in Redis.
import { listRuns, type RunProgress, type RunRow, runProgress } from '@backfill/engine';
import { rateKey } from '@backfill/shared';
import type { ControlContext } from './context.js';
import { openRunQueue } from './queues.js';

export interface RunStatusReport {
  run: RunRow;
  progress: RunProgress;
  queue: Record<string, number>;
  queuePaused: boolean;
  rowsPerSecondLastMinute: number;
  rowsPerSecondOverall: number;
  percent: number;
  etaSeconds: number | null;
}

export async function rowsPerSecondLastMinute(
  ctx: ControlContext,
  runId: number,
  now = Date.now(),
): Promise<number> {
  const sec = Math.floor(now / 1000);
  // The current second is still filling up: average over the 60 complete seconds before it.
  const keys = Array.from({ length: 60 }, (_, i) => rateKey(ctx.prefix, runId, sec - 1 - i));
  const values = await ctx.redis.mget(...keys);
  const total = values.reduce((sum, v) => sum + Number(v ?? 0), 0);
  return Math.round(total / 60);
}

export async function runStatus(ctx: ControlContext, run: RunRow): Promise<RunStatusReport> {
  const progress = await runProgress(ctx.db, run.id);
  const queue = openRunQueue(run, ctx);
  let counts: Record<string, number>;
  let queuePaused: boolean;
  try {
    counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    queuePaused = await queue.isPaused();
  } finally {
    await queue.close();
  }
  const lastMinute = await rowsPerSecondLastMinute(ctx, run.id);
  const end = run.finishedAt?.getTime() ?? Date.now();
  const elapsed = run.startedAt ? (end - run.startedAt.getTime()) / 1000 : 0;
  const overall = elapsed > 0 ? Math.round(progress.rowsUpdated / elapsed) : 0;
  const estimate = Math.max(progress.estimatedRows, progress.rowsUpdated);
  const remaining = Math.max(0, estimate - progress.rowsUpdated);
  const rate = lastMinute || overall;
  const finished = ['completed', 'finalized', 'cancelled'].includes(run.status);
  return {
    run,
    progress,
    queue: counts,
    queuePaused,
    rowsPerSecondLastMinute: lastMinute,
    rowsPerSecondOverall: overall,
    percent:
      finished && run.status !== 'cancelled'
        ? 100
        : estimate > 0
          ? Math.min(100, (progress.rowsUpdated / estimate) * 100)
          : 0,
    etaSeconds: finished ? 0 : rate > 0 ? Math.round(remaining / rate) : null,
  };
}

export async function allRunStatuses(ctx: ControlContext): Promise<RunStatusReport[]> {
  const runs = await listRuns(ctx.db);
  return Promise.all(runs.map((r) => runStatus(ctx, r)));
}
