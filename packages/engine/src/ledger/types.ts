// Ledger rows as the engine sees them (bigint ids as bigint, counts as numbers).

import { type RunSettings, storedRunSettings } from '@backfill/shared/settings';
import type { RunStatus, ShardStatus } from './states.js';

export type { RunSettings };

export interface RunRow {
  id: number;
  name: string;
  /** BullMQ queue name (given by the control plane when the run is created). */
  queue: string | null;
  tableSchema: string;
  tableName: string;
  eventIdVersion: number;
  status: RunStatus;
  fromId: bigint;
  toId: bigint;
  order: 'asc' | 'desc';
  shardRows: number;
  planner: string;
  estimatedRows: number;
  settings: RunSettings;
  lastError: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** When the finished run's queue was removed from Redis (null: not yet, or the run is active). */
  queueClearedAt: Date | null;
}

export interface ShardRow {
  runId: number;
  shardNo: number;
  fromId: bigint;
  toId: bigint;
  checkpointId: bigint | null;
  status: ShardStatus;
  estimatedRows: number;
  rowsUpdated: number;
  rowsSkipped: number;
  batches: number;
  attempts: number;
  /** Fencing token of the current claim (see claimShard). */
  epoch: number;
  /** The batch size its worker used last (adaptive sizing moves it). */
  batchSize: number | null;
  parentShardNo: number | null;
  worker: string | null;
  lastError: string | null;
  lastErrorClass: string | null;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

type Raw = Record<string, unknown>;
const big = (v: unknown) => (v === null || v === undefined ? null : BigInt(v as string));
const num = (v: unknown) => Number(v ?? 0);

export function toRun(r: Raw): RunRow {
  return {
    id: num(r.id),
    name: r.name as string,
    queue: (r.queue as string | null) ?? null,
    tableSchema: r.table_schema as string,
    tableName: r.table_name as string,
    eventIdVersion: num(r.event_id_version),
    status: r.status as RunStatus,
    fromId: big(r.from_id)!,
    toId: big(r.to_id)!,
    order: r.order as 'asc' | 'desc',
    shardRows: num(r.shard_rows),
    planner: r.planner as string,
    estimatedRows: num(r.estimated_rows),
    settings: storedRunSettings(r.settings),
    lastError: (r.last_error as string | null) ?? null,
    createdAt: r.created_at as Date,
    startedAt: (r.started_at as Date | null) ?? null,
    finishedAt: (r.finished_at as Date | null) ?? null,
    queueClearedAt: (r.queue_cleared_at as Date | null) ?? null,
  };
}

export function toShard(r: Raw): ShardRow {
  return {
    runId: num(r.run_id),
    shardNo: num(r.shard_no),
    fromId: big(r.from_id)!,
    toId: big(r.to_id)!,
    checkpointId: big(r.checkpoint_id),
    status: r.status as ShardStatus,
    estimatedRows: num(r.estimated_rows),
    rowsUpdated: num(r.rows_updated),
    rowsSkipped: num(r.rows_skipped),
    batches: num(r.batches),
    attempts: num(r.attempts),
    epoch: num(r.epoch),
    batchSize: r.batch_size === null || r.batch_size === undefined ? null : num(r.batch_size),
    parentShardNo:
      r.parent_shard_no === null || r.parent_shard_no === undefined ? null : num(r.parent_shard_no),
    worker: (r.worker as string | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    lastErrorClass: (r.last_error_class as string | null) ?? null,
    updatedAt: r.updated_at as Date,
    startedAt: (r.started_at as Date | null) ?? null,
    finishedAt: (r.finished_at as Date | null) ?? null,
  };
}

/** The batch-engine options a shard of a run is processed with (worker and finalize alike). */
export function shardRangeOptions(run: RunRow, shard: ShardRow) {
  return {
    table: { schema: run.tableSchema, name: run.tableName },
    cursor: shard.checkpointId ?? shard.fromId - 1n,
    toId: shard.toId,
    batchSize: run.settings.batchSize,
    statementTimeoutMs: run.settings.statementTimeoutMs,
    lockTimeoutMs: run.settings.lockTimeoutMs,
    commit: true,
    onBadRow: run.settings.onBadRow,
    runName: run.name,
    shard: { runId: run.id, shardNo: shard.shardNo, epoch: shard.epoch },
  };
}
