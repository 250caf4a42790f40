// The run and shard state machines: every state, every allowed transition, and the named sets of
// states, defined once. Every status write in the ledger checks its transition here (under the row's
// lock), so a transition the table does not allow is an error naming both states, never a silent no-op.
import { BackfillError } from '../errors.js';

export const RUN_STATUSES = ['running', 'paused', 'completed', 'failed', 'cancelled', 'finalized'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const SHARD_STATUSES = ['queued', 'running', 'completed', 'failed', 'split', 'cancelled'] as const;
export type ShardStatus = (typeof SHARD_STATUSES)[number];

/**
 * Run transitions (from → allowed targets):
 * - running → paused (pause), completed / failed (settle: no shard left to work on), cancelled, finalized
 * - paused → running (resume), completed / failed (settle), cancelled, finalized
 * - completed → running (a shard retried), finalized
 * - failed → running (retry), cancelled, finalized
 * - cancelled, finalized: terminal.
 */
export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  running: ['paused', 'completed', 'failed', 'cancelled', 'finalized'],
  paused: ['running', 'completed', 'failed', 'cancelled', 'finalized'],
  completed: ['running', 'finalized'],
  failed: ['running', 'cancelled', 'finalized'],
  cancelled: [],
  finalized: [],
};

/**
 * Shard transitions (from → allowed targets):
 * - queued → running (claim), queued (a failed attempt with tries left, a retry), completed (finalize),
 *   failed (a permanent fault), split, cancelled
 * - running → running (claimed again after its worker died), queued (released, or an attempt failed),
 *   completed, failed, split, cancelled
 * - failed → running (claimed by a retry), queued (retry), completed, split, cancelled
 * - completed, split, cancelled: terminal (a split shard's range lives on in its two children).
 */
export const SHARD_TRANSITIONS: Readonly<Record<ShardStatus, readonly ShardStatus[]>> = {
  queued: ['running', 'queued', 'completed', 'failed', 'split', 'cancelled'],
  running: ['running', 'queued', 'completed', 'failed', 'split', 'cancelled'],
  failed: ['running', 'queued', 'completed', 'split', 'cancelled'],
  completed: [],
  split: [],
  cancelled: [],
};

/** Runs whose shards may still be worked on: workers serve them. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['running', 'paused'];
/** Runs no worker will touch again without an operator: `finished_at` is set. */
export const FINISHED_RUN_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'finalized'];
/** Runs whose every row was backfilled. */
export const SUCCEEDED_RUN_STATUSES: readonly RunStatus[] = ['completed', 'finalized'];
/** Runs nothing can change any more. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = RUN_STATUSES.filter(
  (s) => RUN_TRANSITIONS[s].length === 0,
);

/** Shards with work left. */
export const UNFINISHED_SHARD_STATUSES: readonly ShardStatus[] = ['queued', 'running', 'failed'];
/** Shards a worker holds or will take without an operator: while any is left, the run is not over. */
export const PENDING_SHARD_STATUSES: readonly ShardStatus[] = ['queued', 'running'];
/** Shards nothing can change any more. */
export const TERMINAL_SHARD_STATUSES: readonly ShardStatus[] = SHARD_STATUSES.filter(
  (s) => SHARD_TRANSITIONS[s].length === 0,
);

export const isActiveRun = (s: RunStatus) => ACTIVE_RUN_STATUSES.includes(s);
export const isFinishedRun = (s: RunStatus) => FINISHED_RUN_STATUSES.includes(s);
export const isSucceededRun = (s: RunStatus) => SUCCEEDED_RUN_STATUSES.includes(s);
export const isTerminalShard = (s: ShardStatus) => TERMINAL_SHARD_STATUSES.includes(s);

export const canTransitionRun = (from: RunStatus, to: RunStatus) => RUN_TRANSITIONS[from].includes(to);
export const canTransitionShard = (from: ShardStatus, to: ShardStatus) =>
  SHARD_TRANSITIONS[from].includes(to);

/** The run states a run may move to `to` from (for guarded UPDATEs). */
export const runStatusesInto = (to: RunStatus): RunStatus[] =>
  RUN_STATUSES.filter((from) => canTransitionRun(from, to));
export const shardStatusesInto = (to: ShardStatus): ShardStatus[] =>
  SHARD_STATUSES.filter((from) => canTransitionShard(from, to));

/** A status write the state table does not allow. Names the entity and both states. */
export class IllegalTransitionError extends BackfillError {
  override readonly kind = 'conflict';
  constructor(
    readonly entity: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`${entity} cannot go from ${from} to ${to}`);
  }
}

export function assertRunTransition(entity: string, from: RunStatus, to: RunStatus): void {
  if (!canTransitionRun(from, to)) throw new IllegalTransitionError(entity, from, to);
}

export function assertShardTransition(entity: string, from: ShardStatus, to: ShardStatus): void {
  if (!canTransitionShard(from, to)) throw new IllegalTransitionError(entity, from, to);
}
