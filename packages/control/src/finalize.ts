// `backfill finalize`: finish whatever is left inline, prove the range complete, mark the run done.
import { backfillPool, processRange, type VerifyReport, verifyRange } from '@backfill/engine/backfill';
import { CheckFailedError, ConflictError } from '@backfill/engine/errors';
import {
  canTransitionRun,
  claimShard,
  completeShard,
  listShards,
  shardRangeOptions,
  transitionRun,
  UNFINISHED_SHARD_STATUSES,
} from '@backfill/engine/ledger';
import type { ControlContext } from './context.js';
import { requireRun } from './controls.js';
import { withRunQueue } from './queue/enqueue.js';

export interface FinalizeResult {
  shardsFinishedInline: number;
  rowsUpdatedInline: number;
  verify: VerifyReport;
}

export async function finalizeRun(
  ctx: ControlContext,
  name: string,
  opts: { sample: number; onProgress?: (rows: number) => void } = { sample: 10_000 },
): Promise<FinalizeResult> {
  const run = await requireRun(ctx, name);
  if (!canTransitionRun(run.status, 'finalized')) {
    throw new ConflictError(`run "${name}" is ${run.status}: it cannot be finalized`);
  }
  const table = { schema: run.tableSchema, name: run.tableName };
  const pool = backfillPool(ctx.databaseUrl, {
    statementTimeoutMs: run.settings.statementTimeoutMs,
    lockTimeoutMs: run.settings.lockTimeoutMs,
    max: 2,
    name: 'backfill-finalize',
  });
  let shardsFinishedInline = 0;
  let rowsUpdatedInline = 0;
  try {
    // Inline, one after the other. A worker may still hold one of these; the `event_id IS NULL`
    // guard makes working on the same rows twice harmless.
    for (const shard of await listShards(ctx.db, run.id, UNFINISHED_SHARD_STATUSES)) {
      const claimed = await claimShard(ctx.db, run.id, shard.shardNo, 'finalize');
      if (!claimed) continue;
      const r = await processRange({
        pool,
        ...shardRangeOptions(run, claimed),
        onBatch: (b) => {
          rowsUpdatedInline += b.rowsUpdated;
          opts.onProgress?.(rowsUpdatedInline);
        },
        logger: ctx.logger.child({ run: run.name, shardNo: shard.shardNo }),
      });
      if (r.complete) {
        await completeShard(ctx.db, run.id, shard.shardNo, 'finalize', claimed.epoch);
        shardsFinishedInline++;
      }
    }
  } finally {
    await pool.end();
  }
  const verify = await verifyRange({
    databaseUrl: ctx.databaseUrl,
    table,
    mode: { full: false, sample: opts.sample },
    fromId: run.fromId,
    toId: run.toId,
    logger: ctx.logger,
  });
  if (verify.mismatches > 0 || verify.nullCount > 0) {
    throw new CheckFailedError(
      `finalize: run "${name}" is not complete: ${verify.nullCount} rows in ids ${run.fromId}..${run.toId} still have ` +
        `no event_id and ${verify.mismatches} sampled ids differ (bad rows are listed in backfill_errors). The run stays open.`,
    );
  }
  await transitionRun(ctx.db, run.id, 'finalized');
  // The ledger keeps the history; Redis needs none of it.
  await withRunQueue(ctx, run, (q) => q.obliterate({ force: true }));
  return { shardsFinishedInline, rowsUpdatedInline, verify };
}
