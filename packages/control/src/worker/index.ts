// The shard worker runtime: one BullMQ Worker per active run, each job one shard processed by the
// batch engine. The worker app (and `backfill worker`) start it with settings parsed at their edge.
export type { WorkerSettings } from '@backfill/shared/settings';
export { throttledErrorLog } from './error-log.js';
export { serveMetrics, WorkerMetrics } from './metrics.js';
export { processShardJob, type ShardDeps, type ShardOutcome } from './process-shard.js';
export { RunBudgets } from './rate.js';
export { RunCache } from './run-cache.js';
export { serveWorker } from './serve.js';
export { ShardSlots, spreadCap } from './slots.js';
export { startWorker, type WorkerHandle } from './worker.js';
