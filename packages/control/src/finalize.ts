// `backfill finalize`: finish whatever is left inline, prove the range complete, mark the run done.
// Inline work goes at the run's own pace (its rate budget, shared with any worker still running) and
// stops at a pause; every claim it takes is released or completed, never left behind. Rows still NULL
// behind completed shards (committed late, or left by a shard that ended early) are found through the
// event_id index and processed too; what cannot be (bad rows) is named with the exact command to retry.
import {
  backfillPool,
  countRemainingNulls,
  processRange,
  type VerifyReport,
  verifyRange,
} from '@backfill/engine/backfill';
import { qualified, RUN_LOGS, type TableRef } from '@backfill/engine/db';
import { CheckFailedError, ConflictError } from '@backfill/engine/errors';
import {
  canTransitionRun,
  claimShard,
  completeShard,
  getRunById,
  listShards,
  type RunRow,
  releaseShard,
  type ShardRow,
  shardRangeOptions,
  transitionRun,
  UNFINISHED_SHARD_STATUSES,
} from '@backfill/engine/ledger';
import { buildEventIdIndex, DEFAULT_LOCK_POLICY } from '@backfill/engine/migrate';
import type pg from 'pg';
import type { ControlContext } from './context.js';
import { requireRun } from './controls.js';
import { withRunQueue } from './queue/enqueue.js';
import { RunBudgets } from './worker/rate.js';

export interface FinalizeResult {
  shardsFinishedInline: number;
  rowsUpdatedInline: number;
  /** Ranges still holding NULL ids behind completed shards, processed inline. */
  leftoverRanges: Array<{ fromId: string; toId: string }>;
  verify: VerifyReport;
  /** ix_run_logs_event_id after finalize: built now (deferred by `migrate --index=auto`), or there already. */
  index: 'built' | 'rebuilt-invalid' | 'already-valid' | 'not-run_logs';
}

const FINALIZER = 'finalize';
/** How often inline work re-reads the run's status (a pause stops it within this long). */
const STATUS_EVERY_MS = 1000;
/** NULL ids further apart than this start a new leftover range (one keyset walk each). */
const LEFTOVER_GAP = 10_000n;
const LEFTOVER_IDS = 100_000;

export async function finalizeRun(
  ctx: ControlContext,
  name: string,
  opts: { sample: number; onProgress?: (rows: number) => void } = { sample: 10_000 },
): Promise<FinalizeResult> {
  const run = await requireRun(ctx, name);
  if (run.status === 'paused') {
    throw new ConflictError(
      `run "${name}" is paused: finalize would work on its shards, so resume it first (\`backfill resume ${name}\`), ` +
        `or cancel it (\`backfill cancel ${name}\`)`,
    );
  }
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
  const inline = new InlineWork(ctx, run, pool, opts.onProgress);
  let leftoverRanges: FinalizeResult['leftoverRanges'] = [];
  try {
    for (const shard of await listShards(ctx.db, run.id, UNFINISHED_SHARD_STATUSES)) {
      await inline.shard(shard);
    }
    const leftovers = await nullRanges(pool, table, run.fromId, run.toId);
    leftoverRanges = leftovers.map((r) => ({ fromId: r.fromId.toString(), toId: r.toId.toString() }));
    for (const r of leftovers) await inline.range(r.fromId, r.toId);
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
  if (verify.mismatches > 0 || verify.nullCount > 0) throw await incomplete(ctx, run, verify);
  const index = await buildDeferredIndex(ctx, table);
  await transitionRun(ctx.db, run.id, 'finalized');
  // The ledger keeps the history; Redis needs none of it (if this fails, the reconciler clears it later).
  await withRunQueue(ctx, run, (q) => q.obliterate({ force: true }))
    .then(() => ctx.db.query('UPDATE backfill_runs SET queue_cleared_at = now() WHERE id = $1', [run.id]))
    .catch((err) => ctx.logger.warn({ err: (err as Error).message }, 'could not remove the run queue yet'));
  return {
    shardsFinishedInline: inline.shardsFinished,
    rowsUpdatedInline: inline.rowsUpdated,
    leftoverRanges,
    verify,
    index,
  };
}

/**
 * The event_id index, when `migrate --index=auto` deferred it for a big table: built now, concurrently
 * (one sort of the finished column instead of a random insert per backfilled row). If it cannot be
 * built now, finalize fails saying so and how: the data is complete, only the index is missing.
 */
async function buildDeferredIndex(ctx: ControlContext, table: TableRef): Promise<FinalizeResult['index']> {
  if (table.schema !== RUN_LOGS.schema || table.name !== RUN_LOGS.name) return 'not-run_logs';
  try {
    ctx.logger.info('finalize: making sure ix_run_logs_event_id exists (CREATE INDEX CONCURRENTLY if not)');
    return await buildEventIdIndex({
      databaseUrl: ctx.databaseUrl,
      logger: ctx.logger,
      ...DEFAULT_LOCK_POLICY,
    });
  } catch (err) {
    throw new CheckFailedError(
      `finalize: every row has its event_id, but ix_run_logs_event_id could not be built now (${(err as Error).message}). ` +
        'Build it with `backfill index`, then finalize again.',
      { cause: err },
    );
  }
}

/** The inline processing of finalize: the run's rate budget, stopped by a pause, claims never left. */
class InlineWork {
  shardsFinished = 0;
  rowsUpdated = 0;
  private readonly budgets: RunBudgets;
  private status: { value: RunRow['status']; at: number };

  constructor(
    private readonly ctx: ControlContext,
    private readonly run: RunRow,
    private readonly pool: pg.Pool,
    private readonly onProgress?: (rows: number) => void,
  ) {
    this.budgets = new RunBudgets(ctx.transport);
    this.status = { value: run.status, at: Date.now() };
  }

  private options() {
    return {
      pool: this.pool,
      rateLimiter: this.budgets.forRun(this.run, this.run.settings.maxRowsPerSecond),
      gate: () => this.gate(),
      onBatch: (b: { rowsUpdated: number }) => {
        this.rowsUpdated += b.rowsUpdated;
        this.onProgress?.(this.rowsUpdated);
      },
    };
  }

  /** 'stop' once the run is paused or cancelled (re-read from the ledger at most once a second). */
  private async gate(): Promise<'go' | 'stop'> {
    if (Date.now() - this.status.at >= STATUS_EVERY_MS) {
      const now = await getRunById(this.ctx.db, this.run.id);
      this.status = { value: now?.status ?? 'cancelled', at: Date.now() };
    }
    return this.status.value === 'paused' || this.status.value === 'cancelled' ? 'stop' : 'go';
  }

  private stopped(): ConflictError {
    return new ConflictError(
      `run "${this.run.name}" was ${this.status.value} while finalize worked on it: stopped, every shard ` +
        `handed back with its checkpoint (finalize again once it is resumed)`,
    );
  }

  async shard(shard: ShardRow): Promise<void> {
    const claimed = await claimShard(this.ctx.db, this.run.id, shard.shardNo, FINALIZER);
    if (!claimed) return;
    let done = false;
    try {
      const r = await processRange({
        ...shardRangeOptions(this.run, claimed),
        ...this.options(),
        logger: this.ctx.logger.child({ run: this.run.name, shardNo: shard.shardNo }),
      });
      if (!r.complete) throw this.stopped();
      await completeShard(this.ctx.db, this.run.id, shard.shardNo, FINALIZER, claimed.epoch);
      done = true;
      this.shardsFinished++;
    } finally {
      if (!done) {
        // Whatever stopped it, the shard goes back to the queue with its checkpoint, for a worker or
        // the next finalize: a claim by "finalize" is never left behind.
        await releaseShard(
          this.ctx.db,
          this.run.id,
          shard.shardNo,
          FINALIZER,
          'finalize stopped',
          claimed.epoch,
        ).catch((err) =>
          this.ctx.logger.warn({ err: (err as Error).message, shardNo: shard.shardNo }, 'could not release'),
        );
      }
    }
  }

  /** Ids [fromId, toId] outside any shard's ledger: rows left NULL behind completed shards. */
  async range(fromId: bigint, toId: bigint): Promise<void> {
    const { settings } = this.run;
    const r = await processRange({
      table: { schema: this.run.tableSchema, name: this.run.tableName },
      cursor: fromId - 1n,
      toId,
      batchSize: settings.batchSize,
      statementTimeoutMs: settings.statementTimeoutMs,
      lockTimeoutMs: settings.lockTimeoutMs,
      commit: true,
      onBadRow: settings.onBadRow,
      runName: this.run.name,
      ...this.options(),
      logger: this.ctx.logger.child({ run: this.run.name, leftovers: `${fromId}..${toId}` }),
    });
    if (!r.complete) throw this.stopped();
  }
}

/**
 * Ranges of ids in [fromId, toId] whose event_id is still NULL, not counting rows recorded as bad
 * (those stay NULL until fixed). Read through the event_id index (a btree indexes NULLs), so it costs
 * the NULLs left, not the table; at most LEFTOVER_IDS ids, grouped into ranges LEFTOVER_GAP apart.
 */
async function nullRanges(
  pool: pg.Pool,
  table: TableRef,
  fromId: bigint,
  toId: bigint,
): Promise<Array<{ fromId: bigint; toId: bigint }>> {
  const client = await pool.connect();
  try {
    if ((await countRemainingNulls(client, table, fromId, toId)) === 0) return [];
    await client.query('BEGIN READ ONLY');
    try {
      await client.query('SET LOCAL enable_seqscan = off');
      const { rows } = await client.query<{ id: string }>(
        `SELECT id::text AS id FROM ${qualified(table)} t
          WHERE event_id IS NULL AND id + 0 BETWEEN $1 AND $2
            AND NOT EXISTS (SELECT 1 FROM backfill_errors e WHERE e.table_name = $3 AND e.row_id = t.id)
          ORDER BY id LIMIT ${LEFTOVER_IDS}`,
        [fromId.toString(), toId.toString(), `${table.schema}.${table.name}`],
      );
      return groupIds(rows.map((r) => BigInt(r.id)));
    } finally {
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
}

function groupIds(ids: bigint[]): Array<{ fromId: bigint; toId: bigint }> {
  const ranges: Array<{ fromId: bigint; toId: bigint }> = [];
  for (const id of ids) {
    const last = ranges[ranges.length - 1];
    if (last && id - last.toId <= LEFTOVER_GAP) last.toId = id;
    else ranges.push({ fromId: id, toId: id });
  }
  return ranges;
}

/** What is still missing after finalize, with the exact commands that would deal with it. */
async function incomplete(ctx: ControlContext, run: RunRow, verify: VerifyReport): Promise<CheckFailedError> {
  const { rows } = await ctx.db.query<{ id: string; reason: string }>(
    `SELECT row_id::text AS id, reason FROM backfill_errors
      WHERE table_name = $1 AND row_id BETWEEN $2 AND $3 ORDER BY row_id LIMIT 5`,
    [`${run.tableSchema}.${run.tableName}`, run.fromId.toString(), run.toId.toString()],
  );
  const bad = rows.map((r) => `id ${r.id} (${r.reason})`).join('; ');
  const parts = [
    `finalize: run "${run.name}" is not complete: ${verify.nullCount} rows in ids ${run.fromId}..${run.toId} still have ` +
      `no event_id and ${verify.mismatches} sampled ids differ. The run stays open.`,
  ];
  if (rows.length) {
    parts.push(
      `Rows whose id cannot be computed (backfill_errors): ${bad}. Fix them, then: ` +
        `backfill run --commit --from-id ${rows[0]!.id} --to-id ${run.toId} && backfill finalize ${run.name}`,
    );
  }
  if (verify.mismatches > 0)
    parts.push(`See: backfill verify --full --from-id ${run.fromId} --to-id ${run.toId}`);
  return new CheckFailedError(parts.join(' '));
}
