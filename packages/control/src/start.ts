// `backfill start`: plan shards, record the run in the ledger, enqueue one job per shard.
import { randomBytes } from 'node:crypto';
import { assertBackfillReady, eventIdStatisticsWarning, resolveIdRange } from '@backfill/engine/backfill';
import { RUN_LOGS, type TableRef } from '@backfill/engine/db';
import { ConflictError } from '@backfill/engine/errors';
import {
  activeRunOnTable,
  createRun,
  getRun,
  isActiveRun,
  type RunRow,
  type RunSettings,
} from '@backfill/engine/ledger';
import { planShards, type ShardPlan } from '@backfill/engine/plan';
import { EVENT_ID_VERSION } from '@backfill/shared/event-id';
import type { ControlContext } from './context.js';
import { ensureEnqueued } from './queue/enqueue.js';
import { newRunQueueName } from './queue/names.js';

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
    const enqueued = isActiveRun(existing.status) && o.commit ? await ensureEnqueued(ctx, existing) : 0;
    return { outcome: 'exists', run: existing, plan: null, enqueued };
  }
  await assertBackfillReady(ctx.db, table);
  // An inverted range is bad usage, not a run over nothing (which would also use up the name).
  const range = await resolveIdRange(ctx.db, table, o);
  const statsWarning = await eventIdStatisticsWarning(ctx.db, table);
  if (statsWarning) ctx.logger.warn(statsWarning);
  const active = await activeRunOnTable(ctx.db, table);
  if (active && o.commit) {
    throw new ConflictError(
      `run "${active.name}" is already ${active.status} on ${table.schema}.${table.name}: one run per table at a time ` +
        `(finish it, or \`backfill cancel ${active.name}\`)`,
    );
  }
  const plan = await planShards(ctx.db, {
    table,
    shardRows: o.shardRows,
    fromId: range.fromId,
    toId: range.toId,
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
    queueName: (runId) => newRunQueueName(runId, randomBytes(4).toString('hex')),
  });
  const enqueued = await ensureEnqueued(ctx, run);
  ctx.logger.info(
    { run: run.name, runId: run.id, shards: enqueued },
    `run ${run.name} started: ${enqueued} shards queued`,
  );
  return { outcome: 'started', run, plan, enqueued };
}
