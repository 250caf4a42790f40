// `backfill run`: the single-process backfill over an id range (no Redis, no ledger).

import {
  RUN_SETTINGS_DEFAULTS,
  type RunSettings,
  SINGLE_PROCESS_RECONNECT_BUDGET_MS,
  SINGLE_PROCESS_WRITERS,
} from '@backfill/shared/settings';
import type pg from 'pg';
import { connectPooled, createPool, RUN_LOGS, type TableRef } from '../db.js';
import { SchemaError } from '../errors.js';
import type { Hold } from '../health/gates.js';
import { HealthMonitor, RunGates } from '../health/monitor.js';
import type { Logger } from '../logger.js';
import { checkRunLogsShape, tableColumns } from '../migrate/inspect.js';
import { silenceDeadline, watchSilence } from '../silence-watchdog.js';
import { batchPolicyOf } from './batch-size.js';
import { estimateNullRows, resolveIdRange } from './bounds.js';
import { eventIdStatisticsWarning } from './missing-event-id.js';
import {
  type BatchReport,
  IDLE_IN_TRANSACTION_MARGIN_MS,
  type OnBadRow,
  processRange,
  type RangeResult,
} from './process-range.js';
import { localRowLimiter } from './rate-limit.js';

export interface RunOptions {
  databaseUrl: string;
  table?: TableRef;
  batchSize: number;
  fromId?: bigint;
  toId?: bigint;
  maxRowsPerSecond: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  onBadRow: OnBadRow;
  /** UPDATEs in flight at once, each on its own connection (default 2). */
  writers?: number;
  /** How long to keep reconnecting to a lost PostgreSQL before stopping (default 60 s). */
  reconnectBudgetMs?: number;
  /**
   * Adaptive batch sizing and the health gates (RunSettings). Without targetBatchMs the batch size
   * stays fixed; the gates not given take their defaults.
   */
  settings?: Partial<RunSettings>;
  /** Told when a gate starts or stops holding the run. */
  onHold?: (hold: Hold | null) => void;
  commit: boolean;
  signal?: AbortSignal;
  /** Called once the range and the estimate are known, before the first batch. */
  onStart?: (plan: RunPlan) => void;
  onBatch?: (b: BatchReport) => void;
  logger: Logger;
}

export interface RunPlan {
  fromId: bigint;
  toId: bigint;
  estimatedRows: number;
}

export interface RunSummary extends RangeResult {
  commit: boolean;
  fromId: bigint;
  toId: bigint;
  estimatedRows: number;
  seconds: number;
  rowsPerSecond: number;
  sample: Array<{ id: string; eventId: string }>;
  /** Peak resident memory of this process, MB. */
  peakRssMb: number;
  /** CPU seconds this process has spent (user + system), start-up included. */
  cpuSeconds: number;
}

/**
 * The backfill's own sessions, bounded against partitions and hung peers:
 * - statement_timeout and lock_timeout: the backfill loses every fight with the application;
 * - idle_in_transaction_session_timeout (statement_timeout + 5 s): a transaction whose client vanished
 *   mid-batch (a partition, a frozen process) is rolled back by the server, so no row stays locked by the
 *   backfill longer than that;
 * - TCP keepalives on both ends, so a dead peer is eventually noticed even with nothing to send;
 * - a client-side silence watchdog (silence-watchdog.ts): a statement with no answer for
 *   statement_timeout + 5 s fails its connection, which the batch engine reconnects and resumes.
 */
export function backfillPool(
  url: string,
  o: { statementTimeoutMs: number; lockTimeoutMs: number; max: number; name: string },
): pg.Pool {
  const statementTimeoutMs = Math.trunc(o.statementTimeoutMs);
  const pool = createPool(url, {
    max: o.max,
    application_name: o.name,
    options: [
      `-c statement_timeout=${statementTimeoutMs}`,
      `-c lock_timeout=${Math.trunc(o.lockTimeoutMs)}`,
      `-c idle_in_transaction_session_timeout=${statementTimeoutMs + IDLE_IN_TRANSACTION_MARGIN_MS}`,
      '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3',
    ].join(' '),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: 10_000,
  });
  // A statement whose answer never comes (a partition) fails its connection after this much silence.
  pool.on('connect', (client) => watchSilence(client, silenceDeadline(statementTimeoutMs)));
  return pool;
}

/** Fails (permanently) unless the table is ready for a backfill. */
export async function assertBackfillReady(client: pg.ClientBase, table: TableRef): Promise<void> {
  const columns = await tableColumns(client, table);
  const shape = checkRunLogsShape(table, columns);
  if (!shape.hasEventId) {
    throw new SchemaError(
      `table ${table.schema}.${table.name} has no event_id column yet: run \`backfill migrate\` first`,
    );
  }
}

export async function runBackfill(opts: RunOptions): Promise<RunSummary> {
  const table = opts.table ?? RUN_LOGS;
  const started = Date.now();
  const writers = Math.max(1, opts.writers ?? SINGLE_PROCESS_WRITERS);
  // A reader and the writers, and one for the health probes.
  const pool = backfillPool(opts.databaseUrl, { ...opts, max: 2 + writers, name: 'backfill-run' });
  const settings = { ...RUN_SETTINGS_DEFAULTS, targetBatchMs: 0, ...opts, ...opts.settings };
  const gates = new RunGates(new HealthMonitor(pool), table);
  try {
    const client = await connectPooled(pool, opts.databaseUrl);
    let plan: RunPlan;
    try {
      await assertBackfillReady(client, table);
      const statsWarning = await eventIdStatisticsWarning(client, table);
      if (statsWarning) opts.logger.warn(statsWarning);
      const { fromId, toId } = await resolveIdRange(client, table, opts);
      const estimatedRows = toId >= fromId ? await estimateNullRows(client, table, fromId - 1n, toId) : 0;
      plan = { fromId, toId, estimatedRows };
    } finally {
      client.release();
    }
    opts.onStart?.(plan);
    opts.logger.info(
      {
        fromId: plan.fromId.toString(),
        toId: plan.toId.toString(),
        estimatedRows: plan.estimatedRows,
        commit: opts.commit,
      },
      opts.commit ? 'backfill started' : 'dry run started (nothing is written; add --commit to write)',
    );
    const sample: RunSummary['sample'] = [];
    const result =
      plan.toId < plan.fromId
        ? {
            rowsRead: 0,
            rowsUpdated: 0,
            rowsSkipped: 0,
            rowsRewritten: 0,
            batches: 0,
            cursor: plan.toId,
            complete: true,
            retries: 0,
            readMs: 0,
            writeMs: 0,
            heldMs: 0,
            batchSize: opts.batchSize,
          }
        : await processRange({
            pool,
            table,
            cursor: plan.fromId - 1n,
            toId: plan.toId,
            batchSize: opts.batchSize,
            batchPolicy: () => batchPolicyOf(settings),
            gate: async () => {
              const d = await gates.decide(settings);
              return d.hold ? { hold: d } : 'go';
            },
            ...(opts.onHold && { onHold: opts.onHold }),
            commit: opts.commit,
            writeDepth: writers,
            reconnectBudgetMs: opts.reconnectBudgetMs ?? SINGLE_PROCESS_RECONNECT_BUDGET_MS,
            onBadRow: opts.onBadRow,
            rateLimiter: localRowLimiter(opts.maxRowsPerSecond),
            ...(opts.signal ? { signal: opts.signal } : {}),
            onBatch: (b) => {
              if (sample.length < 5) sample.push(...b.sample.slice(0, 5 - sample.length));
              opts.onBatch?.(b);
            },
            logger: opts.logger,
          });
    const seconds = (Date.now() - started) / 1000;
    return {
      ...result,
      commit: opts.commit,
      fromId: plan.fromId,
      toId: plan.toId,
      estimatedRows: plan.estimatedRows,
      seconds,
      rowsPerSecond: seconds > 0 ? Math.round(result.rowsUpdated / seconds) : 0,
      sample,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      cpuSeconds: cpuSecondsSoFar(),
    };
  } finally {
    await pool.end();
  }
}

function cpuSecondsSoFar(): number {
  const u = process.resourceUsage();
  return Math.round((u.userCPUTime + u.systemCPUTime) / 1000) / 1000;
}
