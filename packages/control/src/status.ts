// The status read model: everything `status` (and the dashboard) shows about a run, as plain JSON.
// Per run: one ledger statement, two queue reads and one MGET of the rate counters, whatever the
// number of shards.
import { NotFoundError } from '@backfill/engine/errors';
import {
  getRun,
  isFinishedRun,
  isSucceededRun,
  listRuns,
  type RunProgress,
  type RunRow,
  runProgress,
} from '@backfill/engine/ledger';
import type { ControlContext } from './context.js';
import { withRunQueue } from './queue/enqueue.js';
import { rateKey, runQueueName } from './queue/names.js';

/** A run row as JSON: ids as decimal strings, times as ISO 8601. */
export type RunView = Omit<
  RunRow,
  'fromId' | 'toId' | 'createdAt' | 'startedAt' | 'finishedAt' | 'queueClearedAt'
> & {
  fromId: string;
  toId: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  queueClearedAt: string | null;
};

export interface RunStatusReport {
  run: RunView;
  progress: RunProgress;
  queue: Record<string, number>;
  queuePaused: boolean;
  rowsPerSecondLastMinute: number;
  rowsPerSecondOverall: number;
  percent: number;
  /** 0 once the run has finished; null while no rate is known or while failed shards hold it. */
  etaSeconds: number | null;
}

export function runView(run: RunRow): RunView {
  return {
    ...run,
    fromId: run.fromId.toString(),
    toId: run.toId.toString(),
    createdAt: run.createdAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
    queueClearedAt: run.queueClearedAt?.toISOString() ?? null,
  };
}

export async function rowsPerSecondLastMinute(
  ctx: ControlContext,
  run: { id: number; queue: string | null },
  now = Date.now(),
): Promise<number> {
  const sec = Math.floor(now / 1000);
  const queue = runQueueName(run);
  // The current second is still filling up: average over the 60 complete seconds before it.
  const keys = Array.from({ length: 60 }, (_, i) => rateKey(ctx.prefix, queue, sec - 1 - i));
  const values = await ctx.redis.mget(...keys);
  const total = values.reduce((sum, v) => sum + Number(v ?? 0), 0);
  return Math.round(total / 60);
}

async function statusOf(ctx: ControlContext, run: RunRow): Promise<RunStatusReport> {
  const progress = await runProgress(ctx.db, run.id);
  const [queue, queuePaused] = await withRunQueue(ctx, run, (q) =>
    Promise.all([
      q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'),
      q.isPaused(),
    ]),
  );
  const lastMinute = await rowsPerSecondLastMinute(ctx, run);
  const end = run.finishedAt?.getTime() ?? Date.now();
  const elapsed = run.startedAt ? (end - run.startedAt.getTime()) / 1000 : 0;
  const overall = elapsed > 0 ? Math.round(progress.rowsUpdated / elapsed) : 0;
  const estimate = Math.max(progress.estimatedRows, progress.rowsUpdated);
  const remaining = Math.max(0, estimate - progress.rowsUpdated);
  const rate = lastMinute || overall;
  const finished = isFinishedRun(run.status) && run.status !== 'failed';
  return {
    run: runView(run),
    progress,
    queue,
    queuePaused,
    rowsPerSecondLastMinute: lastMinute,
    rowsPerSecondOverall: overall,
    percent: isSucceededRun(run.status)
      ? 100
      : estimate > 0
        ? Math.min(100, (progress.rowsUpdated / estimate) * 100)
        : 0,
    etaSeconds: finished ? 0 : rate > 0 ? Math.round(remaining / rate) : null,
  };
}

/** The status of one run by name. */
export async function readRunStatus(ctx: ControlContext, name: string): Promise<RunStatusReport> {
  const run = await getRun(ctx.db, name);
  if (!run) throw new NotFoundError(`no run named "${name}" (see \`backfill status\`)`);
  return statusOf(ctx, run);
}

/** The status of every run in the ledger, oldest first. */
export async function readAllRunStatuses(ctx: ControlContext): Promise<RunStatusReport[]> {
  const runs = await listRuns(ctx.db);
  return Promise.all(runs.map((r) => statusOf(ctx, r)));
}
