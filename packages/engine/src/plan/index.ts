// Shard planning: split a table's id range into shards of about equal row counts.
export {
  ANALYZE_LOCK_TIMEOUT_MS,
  analyzeWithTarget,
  HIGH_STATISTICS_TARGET,
  type IdStatistics,
  idStatisticsTarget,
  readIdStatistics,
} from './histogram.js';
export { keysetWalk } from './keyset.js';
export { bucketPieces, packPieces, splitPiece } from './pack.js';
export { DEFAULT_KEYSET_MAX_ROWS, planShards } from './plan-shards.js';
export type { Piece, PlannedShard, PlannerMethod, PlanOptions, ShardPlan } from './types.js';
