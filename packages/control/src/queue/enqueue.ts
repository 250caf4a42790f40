// The run's BullMQ queue, and putting its shards in it. The producer (start, retry, recover) and the
// workers (a split shard's halves) enqueue through here alike.
import { listShards, PENDING_SHARD_STATUSES, type RunRow, type ShardRow } from '@backfill/engine/ledger';
import type { JobType, Queue } from 'bullmq';
import type pg from 'pg';
import { type RetryPolicy, shardJobOptions } from './jobs.js';
import { runQueueName, SHARD_JOB_NAME, type ShardJobData } from './names.js';
import { isPostgresQueue, type QueueTransport } from './transport.js';

export interface QueueConfig {
  transport: QueueTransport;
}

export function openRunQueue(run: { id: number; queue: string | null }, q: QueueConfig): Queue<ShardJobData> {
  return q.transport.queue<ShardJobData>(runQueueName(run));
}

/** Not a JobType in BullMQ's types (Redis keeps a paused queue's jobs in `wait`); its PostgreSQL backend counts it. */
const PAUSED = 'paused' as JobType;

/**
 * The queue's job counts of `types`, with one meaning on both backends: BullMQ's PostgreSQL backend
 * counts a paused queue's waiting jobs as `paused`, Redis as `waiting`; here they are `waiting` on both
 * (whether the queue is paused is `isPaused()`).
 */
export async function jobCounts(queue: Queue, ...types: JobType[]): Promise<Record<string, number>> {
  const { paused = 0, ...counts } = await queue.getJobCounts(...types, PAUSED);
  if (types.includes('waiting')) counts.waiting = (counts.waiting ?? 0) + paused;
  return counts;
}

/** Opens the run's queue for `fn` and closes it after (the Redis connection is the caller's). */
export async function withRunQueue<T>(
  q: QueueConfig,
  run: { id: number; queue: string | null },
  fn: (queue: Queue<ShardJobData>) => Promise<T>,
): Promise<T> {
  const queue = openRunQueue(run, q);
  try {
    return await fn(queue);
  } finally {
    await queue.close();
  }
}

/**
 * The run's parallelism as the queue's global concurrency on Redis: BullMQ hands out no more jobs of
 * the queue at once than this, across every worker. 0 = no limit. Either way the claim in the ledger
 * checks it too (claimShard), and that check alone holds it on PostgreSQL queues: BullMQ's PostgreSQL
 * backend, with a queue at its limit and jobs waiting, polls without pause (measured: 8 µs more
 * database CPU per row than Redis queues in the bench), so the limit is left off there.
 */
export async function applyParallelism(queue: Queue, parallelism: number): Promise<void> {
  if (parallelism > 0 && !isPostgresQueue(queue)) await queue.setGlobalConcurrency(parallelism);
  else await queue.removeGlobalConcurrency();
}

/**
 * Adds one job per shard, in chunks (addBulk is atomic per call; ~500 keeps each call short).
 * Deterministic job ids make a repeated call a no-op for shards already queued. The queue's limit on
 * shards at once is set first: every path that (re)creates jobs — start, retry, recover, the
 * reconcile after a Redis flush, a split — also restores it.
 */
export async function enqueueShards(
  queue: Queue<ShardJobData>,
  runId: number,
  shards: Pick<ShardRow, 'shardNo' | 'fromId'>[],
  order: 'asc' | 'desc',
  settings: RetryPolicy & { parallelism: number },
): Promise<number> {
  await applyParallelism(queue, settings.parallelism);
  // By ids, not shard numbers: a split's halves are numbered after every shard of the plan.
  const sign = order === 'asc' ? 1 : -1;
  const ordered = [...shards].sort((a, b) => sign * (a.fromId < b.fromId ? -1 : a.fromId > b.fromId ? 1 : 0));
  for (let i = 0; i < ordered.length; i += 500) {
    await queue.addBulk(
      ordered.slice(i, i + 500).map((s) => ({
        name: SHARD_JOB_NAME,
        data: { runId, shardNo: s.shardNo },
        opts: shardJobOptions(runId, s.shardNo, settings),
      })),
    );
  }
  return ordered.length;
}

/** Enqueues every queued or running shard of the run (idempotent). Returns how many were submitted. */
export async function ensureEnqueued(ctx: QueueConfig & { db: pg.ClientBase }, run: RunRow): Promise<number> {
  const shards = await listShards(ctx.db, run.id, PENDING_SHARD_STATUSES);
  return withRunQueue(ctx, run, (queue) => enqueueShards(queue, run.id, shards, run.order, run.settings));
}
