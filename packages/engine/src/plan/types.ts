// Shard plans: a table's primary-key range cut into shards of roughly equal ROW counts (not id widths).
import type { TableRef } from '../db.js';
import type { Logger } from '../logger.js';

/** One shard: ids fromId..toId, both inclusive. */
export interface PlannedShard {
  shardNo: number;
  fromId: bigint;
  toId: bigint;
  estimatedRows: number;
}

export type PlannerMethod = 'keyset' | 'histogram';

export interface ShardPlan {
  method: PlannerMethod;
  fromId: bigint;
  toId: bigint;
  shardRows: number;
  /** Sum of the shards' estimates (exact for keyset). */
  estimatedRows: number;
  /** Contiguous, ascending: shard k+1 starts at shard k's toId + 1; together they cover [fromId, toId]. */
  shards: PlannedShard[];
  /** Planning time, milliseconds. */
  ms: number;
  /** Human sentences: which method and why, statistics changed and restored, warnings. */
  notes: string[];
}

export interface PlanOptions {
  table: TableRef;
  /** Target rows per shard (≥ 1). */
  shardRows: number;
  /** Default: min(id). */
  fromId?: bigint;
  /** Default: max(id) at planning time. */
  toId?: bigint;
  /** Default 'auto': keyset up to keysetMaxRows estimated rows, histogram above. */
  method?: 'auto' | PlannerMethod;
  /** Default 5,000,000. */
  keysetMaxRows?: number;
  /**
   * Histogram only: raise id's statistics target to 10000, ANALYZE the column, read the bounds, restore
   * the previous target (all in one transaction). Changes the table's statistics: off unless asked for.
   */
  analyze?: boolean;
  /** Most shards the plan may have (default LIMITS.shards.max): a bigger plan is a UsageError. */
  maxShards?: number;
  logger: Logger;
}

/** A contiguous piece of the id range with its (estimated or exact) row count. */
export interface Piece {
  fromId: bigint;
  toId: bigint;
  rows: number;
  /** Counted (keyset walk): never split, its boundaries are real ids. */
  exact: boolean;
}
