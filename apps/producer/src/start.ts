// `backfill start`: plan shards, record the run in the ledger, enqueue one job per shard.
import {
  activeRunOnTable,
  assertBackfillReady,
  CheckFailedError,
  createRun,
  getRun,
  listShards,
  planShards,
  RUN_LOGS,
  type RunRow,
  type RunSettings,
  type ShardPlan,
  type TableRef,
} from '@backfill/engine';
import { EVENT_ID_VERSION } from '@backfill/shared/event-id';
import type { ControlContext } from './context.js';
import { enqueueShards, openRunQueue } from './queues.js';

export interface StartOptions {
  name: string;
  table?: TableRef;
  shardRows: number;
  fromId?: bigint;
  toId?: bigint;
  order: 'asc' | 'desc';
  method: 'auto' | 'keyset' | 'histogram';
  analyze: boolean;
  settings: RunSettings;
  /** false: plan and print, record and enqueue nothing. */
  commit: boolean;
}

export interface StartResult {
  outcome: 'planned' | 'started' | 'exists';
  run: RunRow | null;
  plan: ShardPlan | null;
  enqueued: number;
}

export async function startRun(ctx: ControlContext, o: StartOptions): Promise<StartResult> {
  const table = o.table ?? RUN_LOGS;
  const existing = await getRun(ctx.db, o.name);
  if (existing) {
    // Nothing changes in the ledger; if a previous `start` died between recording and enqueueing,
    // this puts the missing jobs in (deterministic job ids make it a no-op for the others).
    const enqueued =
      ['running', 'paused'].includes(existing.status) && o.commit ? await ensureEnqueued(ctx, existing) : 0;
    return { outcome: 'exists', run: existing, plan: null, enqueued };
  }
  await assertBackfillReady(ctx.db, table);
  const active = await activeRunOnTable(ctx.db, table);
  if (active && o.commit) {
    throw new CheckFailedError(
      `run "${active.name}" is already ${active.status} on ${table.schema}.${table.name}: one run per table at a time ` +
        `(finish it, or \`backfill cancel ${active.name}\`)`,
    );
  }
  const plan = await planShards(ctx.db, {
    table,
    shardRows: o.shardRows,
    ...(o.fromId !== undefined ? { fromId: o.fromId } : {}),
    ...(o.toId !== undefined ? { toId: o.toId } : {}),
    method: o.method,
    analyze: o.analyze && o.commit,
    logger: ctx.logger,
  });
  if (!o.commit) return { outcome: 'planned', run: null, plan, enqueued: 0 };
  const run = await createRun(ctx.db, {
    name: o.name,
    table,
    eventIdVersion: EVENT_ID_VERSION,
    fromId: plan.fromId,
    toId: plan.toId,
    order: o.order,
    shardRows: o.shardRows,
    planner: plan.method,
    estimatedRows: plan.estimatedRows,
    settings: o.settings,
    shards: plan.shards,
  });
  const enqueued = await ensureEnqueued(ctx, run);
  ctx.logger.info(
    { run: run.name, runId: run.id, shards: enqueued },
    `run ${run.name} started: ${enqueued} shards queued`,
  );
  return { outcome: 'started', run, plan, enqueued };
}

/** Enqueues every unfinished shard of the run (idempotent). Returns how many were submitted. */
export async function ensureEnqueued(ctx: ControlContext, run: RunRow): Promise<number> {
  const queue = openRunQueue(run, ctx);
  try {
    const shards = await listShards(ctx.db, run.id, ['queued', 'running']);
    return await enqueueShards(queue, run.id, shards, run.order, {
      attempts: run.settings.attempts,
      backoffMs: run.settings.backoffMs,
    });
  } finally {
    await queue.close();
  }
}
