// Queue names, job ids and the job schema shared by the producer and the workers. Redis/BullMQ only distributes work; the
// ledger in PostgreSQL is the truth, so a job carries nothing but which shard to process.
import { z } from 'zod';

/** Key prefix for every BullMQ key (and the rate counters). One per deployment, or per test file. */
export const DEFAULT_QUEUE_PREFIX = 'backfill';

export const ShardJobData = z.object({
  runId: z.number().int().positive(),
  shardNo: z.number().int().nonnegative(),
});
export type ShardJobData = z.infer<typeof ShardJobData>;

export const SHARD_JOB_NAME = 'shard';

/**
 * One queue per run, so pausing a run is BullMQ's own queue pause and never touches another run.
 * The random suffix keeps runs of different databases apart when they share one Redis and prefix
 * (run ids start at 1 in every ledger).
 */
export function newRunQueueName(runId: number, random: string): string {
  return `run-${runId}-${random}`;
}

export function runQueueName(run: { id: number; queue: string | null }): string {
  return run.queue ?? `run-${run.id}`;
}

/** Deterministic, never all digits and without ':' (BullMQ rejects both): re-adding is a no-op. */
export function shardJobId(runId: number, shardNo: number): string {
  return `run-${runId}-shard-${shardNo}`;
}

/** How far back the per-second rows counters go: the 15 minutes status and the dashboard chart show. */
export const RATE_HISTORY_SECONDS = 15 * 60;

/**
 * Per-second counters of rows written, for "rows/s over the last minute" (best effort, may be lost).
 * Keyed by the run's queue name: unique across databases sharing one Redis, unlike run ids.
 */
export function rateKey(prefix: string, queue: string, epochSecond: number): string {
  return `${prefix}:rate:${queue}:${epochSecond}`;
}
