// The live controls of one shard's batch loop, read before every batch from what the worker knows now:
// the run's current settings (the run cache, refreshed on every ledger notification and poll), its
// shared rate budget, the run's status (pause, cancel), the worker's own shutdown, and the health gates.
import {
  batchPolicyOf,
  type GateAnswer,
  type ProcessRangeOptions,
  type RowRateLimiter,
} from '@backfill/engine/backfill';
import type { RunGates } from '@backfill/engine/health';
import type { RunRow } from '@backfill/engine/ledger';
import type { ShardActivity, WorkerActivity } from './activity.js';
import type { WorkerMetrics } from './metrics.js';
import type { RunBudgets } from './rate.js';
import type { RunCache } from './run-cache.js';

export interface ControlDeps {
  runs: RunCache;
  metrics: WorkerMetrics;
  lastBatchSizes: LastBatchSizes;
  budgets: RunBudgets;
  gatesFor: (run: RunRow) => RunGates;
  activity: WorkerActivity;
  isShuttingDown: () => boolean;
}

export interface ShardControls
  extends Required<Pick<ProcessRangeOptions, 'batchPolicy' | 'gate' | 'onHold'>>,
    Pick<ProcessRangeOptions, 'startBatchSize'> {
  rateLimiter: () => RowRateLimiter;
  /** Why the gate said stop ('' while it has not). */
  stopReason: () => string;
}

/**
 * The batch size each run's last shard ended at in this process: the next shard of the run starts
 * there instead of growing from the run's --batch-size again (with adaptive sizing on).
 */
export class LastBatchSizes {
  private readonly sizes = new Map<number, { size: number; initial: number }>();

  get(run: RunRow): number | undefined {
    const known = this.sizes.get(run.id);
    // An operator's new --batch-size wins over what was learnt with the old one.
    return known && known.initial === run.settings.batchSize ? known.size : undefined;
  }

  set(run: RunRow, size: number): void {
    if (run.settings.targetBatchMs > 0) this.sizes.set(run.id, { size, initial: run.settings.batchSize });
  }
}

export function shardControls(deps: ControlDeps, started: RunRow, activity: ShardActivity): ShardControls {
  const current = () => deps.runs.get(started.id);
  const settings = () => current()?.settings ?? started.settings;
  let stopReason = '';
  const startAt = settings().targetBatchMs > 0 ? deps.lastBatchSizes.get(current() ?? started) : undefined;
  return {
    ...(startAt !== undefined && { startBatchSize: startAt }),
    batchPolicy: () => batchPolicyOf(settings()),
    rateLimiter: () => deps.budgets.forRun(started, settings().maxRowsPerSecond),
    gate: async (): Promise<GateAnswer> => {
      const run = current();
      if (deps.isShuttingDown()) stopReason = 'worker shutting down';
      else if (run?.status !== 'running') stopReason = `run is ${run?.status ?? 'no longer active'}`;
      if (stopReason) return 'stop';
      const decision = await deps.gatesFor(started).decide(settings());
      return decision.hold ? { hold: decision } : 'go';
    },
    onHold: (hold) => {
      // Time held goes to the metrics when the hold ends or another gate takes over.
      const was = activity.held;
      if (was && was.gate !== hold?.gate) {
        const labels = { run: started.name, gate: was.gate };
        deps.metrics.heldSeconds.inc(labels, (Date.now() - Date.parse(was.since)) / 1000);
        deps.metrics.held.dec(labels);
      }
      if (hold && was?.gate !== hold.gate) deps.metrics.held.inc({ run: started.name, gate: hold.gate });
      deps.activity.hold(activity, hold);
    },
    stopReason: () => stopReason,
  };
}
