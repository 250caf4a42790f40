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
import type { RunBudgets } from './rate.js';
import type { RunCache } from './run-cache.js';

export interface ControlDeps {
  runs: RunCache;
  budgets: RunBudgets;
  gatesFor: (run: RunRow) => RunGates;
  activity: WorkerActivity;
  isShuttingDown: () => boolean;
}

export interface ShardControls
  extends Required<Pick<ProcessRangeOptions, 'batchPolicy' | 'gate' | 'onHold'>> {
  rateLimiter: () => RowRateLimiter;
  /** Why the gate said stop ('' while it has not). */
  stopReason: () => string;
}

export function shardControls(deps: ControlDeps, started: RunRow, activity: ShardActivity): ShardControls {
  const current = () => deps.runs.get(started.id);
  const settings = () => current()?.settings ?? started.settings;
  let stopReason = '';
  return {
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
    onHold: (hold) => deps.activity.hold(activity, hold),
    stopReason: () => stopReason,
  };
}
