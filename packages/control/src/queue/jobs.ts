// How a shard becomes a BullMQ job: its deterministic id, attempts and backoff, and retention.
import type { JobsOptions } from 'bullmq';
import { shardJobId } from './names.js';

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

export function shardJobOptions(runId: number, shardNo: number, retry: RetryPolicy): JobsOptions {
  return {
    jobId: shardJobId(runId, shardNo),
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    // Keep finished jobs for a while: a duplicate add stays a no-op, and `retry` can find failed ones.
    removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
    removeOnFail: false,
  };
}
