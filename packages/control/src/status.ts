// The status read model: everything `status` (and the dashboard) shows about a run, as plain JSON.
// Per run: one ledger statement (shards, workers and events together), two queue reads and one MGET of
// the rate counters, whatever the number of shards.

import { NotFoundError } from '@backfill/engine/errors';
import {
  getRun,
  type HoldView,
  isFinishedRun,
  isSucceededRun,
  listRuns,
  type RunProgress,
  type RunRow,
  runProgress,
} from '@backfill/engine/ledger';
import type { ControlContext } from './context.js';
import { jobCounts, withRunQueue } from './queue/enqueue.js';
import { RATE_HISTORY_SECONDS, runQueueName } from './queue/names.js';

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
  rowsPerSecondLast15Minutes: number;
  /** The rate while the run writes at all (seconds with rows in the last 15 minutes): what a hold pauses. */
  rowsPerSecondWhileWriting: number;
  rowsPerSecondOverall: number;
  /** Rows per 10 s over the last 15 minutes, oldest first (a chart). */
  rateHistory: number[];
  percent: number;
  /**
   * 0 once the run has finished; null while no rate is known. While a gate holds, it is the time the
   * work left takes once writing again (at the rate while writing), not infinity.
   */
  etaSeconds: number | null;
  /** Gates holding shards of the run now: which, their value and threshold, since when, on which worker. */
  holds: Array<HoldView & { workerId: string; shardNo: number }>;
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

/** Rows written in each of the last `seconds` complete seconds, oldest first (best-effort counters). */
export async function rowsPerSecondSeries(
  ctx: ControlContext,
  run: { id: number; queue: string | null },
  seconds = RATE_HISTORY_SECONDS,
  now = Date.now(),
): Promise<number[]> {
  // The current second is still filling up: the complete seconds before it.
  return ctx.transport.series(runQueueName(run), seconds, now);
}

export async function rowsPerSecondLastMinute(
  ctx: ControlContext,
  run: { id: number; queue: string | null },
  now = Date.now(),
): Promise<number> {
  const series = await rowsPerSecondSeries(ctx, run, 60, now);
  return Math.round(series.reduce((a, b) => a + b, 0) / 60);
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

async function statusOf(ctx: ControlContext, run: RunRow): Promise<RunStatusReport> {
  const progress = await runProgress(ctx.db, run.id);
  const [queue, queuePaused] = await withRunQueue(ctx, run, (q) =>
    Promise.all([
      jobCounts(q, 'waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'),
      q.isPaused(),
    ]),
  );
  const series = await rowsPerSecondSeries(ctx, run);
  // A young run's windows hold only the seconds it has lived: 6 s of work averaged over 60 s would show a
  // tenth of its rate and an ETA ten times too long.
  // Counted in the series' own whole seconds: those from the one it started in to the one now filling.
  const lived = run.startedAt
    ? Math.max(1, Math.floor(Date.now() / 1000) - Math.floor(run.startedAt.getTime() / 1000))
    : Infinity;
  const lastMinute = Math.round(mean(series.slice(-Math.min(60, lived))));
  const last15 = Math.round(mean(series.slice(-Math.min(series.length, lived))));
  const whileWriting = Math.round(mean(series.filter((n) => n > 0)));
  const end = run.finishedAt?.getTime() ?? Date.now();
  const elapsed = run.startedAt ? (end - run.startedAt.getTime()) / 1000 : 0;
  const overall = elapsed > 0 ? Math.round(progress.rowsUpdated / elapsed) : 0;
  const estimate = Math.max(progress.estimatedRows, progress.rowsUpdated);
  const remaining = Math.max(0, estimate - progress.rowsUpdated);
  const holds = progress.workers.flatMap((w) =>
    w.alive
      ? w.shards.flatMap((s) => (s.held ? [{ workerId: w.workerId, shardNo: s.shardNo, ...s.held }] : []))
      : [],
  );
  // Held (or just out of a hold): the rate it writes at when it writes, so the ETA does not run away.
  const rate = holds.length || lastMinute === 0 ? whileWriting || overall : lastMinute;
  const finished = isFinishedRun(run.status) && run.status !== 'failed';
  const rateHistory: number[] = [];
  for (let i = 0; i < series.length; i += 10)
    rateHistory.push(series.slice(i, i + 10).reduce((a, b) => a + b, 0));
  return {
    run: runView(run),
    progress,
    queue,
    queuePaused,
    rowsPerSecondLastMinute: lastMinute,
    rowsPerSecondLast15Minutes: last15,
    rowsPerSecondWhileWriting: whileWriting,
    rowsPerSecondOverall: overall,
    rateHistory,
    percent: isSucceededRun(run.status)
      ? 100
      : estimate > 0
        ? Math.min(100, (progress.rowsUpdated / estimate) * 100)
        : 0,
    etaSeconds: finished ? 0 : rate > 0 ? Math.round(remaining / rate) : null,
    holds,
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
