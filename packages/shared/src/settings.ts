// The one settings schema: run settings (stored with each run in the ledger, read by every worker) and
// worker process settings. CLI flags, the worker entry, the demo and the engine's fallbacks all take
// their defaults from here, so a default is written once.
import { z } from 'zod';

const positiveMs = z.number().int().min(1);

export const RunSettingsSchema = z.object({
  /** Rows per batch (one UPDATE). */
  batchSize: z.number().int().min(1).max(100_000).default(5000),
  /** Throttle shared by every worker of the run; 0 = unlimited. */
  maxRowsPerSecond: z.number().int().min(0).default(0),
  statementTimeoutMs: positiveMs.default(30_000),
  /** The backfill loses lock fights, the application wins. */
  lockTimeoutMs: positiveMs.default(2000),
  onBadRow: z.enum(['fail', 'skip']).default('fail'),
  /** BullMQ attempts per shard job, and the first exponential backoff delay between them. */
  attempts: z.number().int().min(1).max(100).default(5),
  backoffMs: positiveMs.default(5000),
});
export type RunSettings = z.infer<typeof RunSettingsSchema>;
export const RUN_SETTINGS_DEFAULTS: RunSettings = RunSettingsSchema.parse({});

/** Run options that are not stored with the run: how a run is planned. */
export const PLAN_DEFAULTS = {
  /** Target rows per shard. */
  shardRows: 100_000,
  order: 'asc' as 'asc' | 'desc',
  planner: 'auto' as 'auto' | 'keyset' | 'histogram',
};

/** `backfill run` (one process, no Redis): UPDATEs in flight at once, each on its own connection. */
export const SINGLE_PROCESS_WRITERS = 2;

export const WorkerSettingsSchema = z.object({
  /**
   * Shards processed at once by this process (each uses 1 + writers connections). Two shards of one
   * writer each keep as many UPDATEs in flight as one shard of two writers, but one shard's start and
   * finish overlap the other's work: ~8% more rows/s.
   */
  concurrency: z.number().int().min(1).max(64).default(2),
  /** UPDATEs in flight per shard, each on its own connection; batches still commit in order. */
  writers: z.number().int().min(1).max(8).default(1),
  /** SIGTERM: how long to wait for in-flight batches before forcing the close. */
  shutdownTimeoutMs: positiveMs.default(30_000),
  /** BullMQ lock duration; a SIGKILLed worker's shard returns to the queue after about this long. */
  lockDurationMs: z.number().int().min(1000).default(30_000),
  /** How often stalled (lock-expired) jobs are looked for. */
  stalledIntervalMs: z.number().int().min(1000).default(30_000),
  /** How often the ledger is read for new runs, pauses and setting changes. */
  pollIntervalMs: z.number().int().min(100).default(1000),
});
export type WorkerTuning = z.infer<typeof WorkerSettingsSchema>;
export const WORKER_SETTINGS_DEFAULTS: WorkerTuning = WorkerSettingsSchema.parse({});

/** Everything a worker process needs: where the services are, its tuning, and its name in the ledger. */
export interface WorkerSettings extends WorkerTuning {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  /** Name recorded in the ledger for the shards this process works on. */
  workerId: string;
}

/** 30000 → "30s", 250 → "250ms", 120000 → "2m": how defaults are shown in `--help`. */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
