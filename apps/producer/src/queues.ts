// The run's BullMQ queue and how shards become jobs.
import type { ShardRow } from '@backfill/engine';
import { runQueueName, SHARD_JOB_NAME, type ShardJobData, shardJobId } from '@backfill/shared';
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface QueueConfig {
  redis: Redis;
  prefix: string;
}

export function openRunQueue(run: { id: number; queue: string | null }, q: QueueConfig): Queue<ShardJobData> {
  return new Queue<ShardJobData>(runQueueName(run), { connection: q.redis, prefix: q.prefix });
}

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

/**
 * Adds one job per shard, in chunks (addBulk is atomic per call; ~500 keeps each call short).
 * Deterministic job ids make a repeated call a no-op for shards already queued.
 */
export async function enqueueShards(
  queue: Queue<ShardJobData>,
  runId: number,
  shards: Pick<ShardRow, 'shardNo'>[],
  order: 'asc' | 'desc',
  retry: RetryPolicy,
): Promise<number> {
  const ordered = [...shards].sort((a, b) =>
    order === 'asc' ? a.shardNo - b.shardNo : b.shardNo - a.shardNo,
  );
  for (let i = 0; i < ordered.length; i += 500) {
    await queue.addBulk(
      ordered.slice(i, i + 500).map((s) => ({
        name: SHARD_JOB_NAME,
        data: { runId, shardNo: s.shardNo },
        opts: shardJobOptions(runId, s.shardNo, retry),
      })),
    );
  }
  return ordered.length;
}
