// The one settings schema: run settings (stored with each run in the ledger, read by every worker) and
// worker process settings. CLI flags, the worker entry, the demo and the engine's fallbacks all take
// their defaults from here, so a default is written once.
import { z } from 'zod';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Every number a setting (or a flag) accepts, inclusive. Durations are milliseconds, all below 2^31 − 1
 * (Node's timers fire at once beyond it, and PostgreSQL's timeouts are int milliseconds).
 */
export const LIMITS = {
  batchSize: { min: 1, max: 100_000 },
  maxRowsPerSecond: { min: 0, max: 1_000_000_000 },
  statementTimeoutMs: { min: 1, max: HOUR },
  lockTimeoutMs: { min: 1, max: 10 * MINUTE },
  attempts: { min: 1, max: 100 },
  backoffMs: { min: 1, max: HOUR },
  concurrency: { min: 1, max: 64 },
  parallelism: { min: 0, max: 10_000 },
  writers: { min: 1, max: 8 },
  shutdownTimeoutMs: { min: 1, max: HOUR },
  lockDurationMs: { min: SECOND, max: HOUR },
  stalledIntervalMs: { min: SECOND, max: HOUR },
  pollIntervalMs: { min: 100, max: MINUTE },
  reconnectBudgetMs: { min: 0, max: 24 * HOUR },
  shardRows: { min: 1, max: 100_000_000 },
  /** Shards one run may have: each is a ledger row and a queued job (about 1 KB of Redis). */
  shards: { min: 1, max: 100_000 },
  statusIntervalMs: { min: 200, max: HOUR },
  migrateLockTimeoutMs: { min: 1, max: 10 * MINUTE },
  indexLockTimeoutMs: { min: 1, max: HOUR },
  lockRetries: { min: 1, max: 1000 },
  verifySample: { min: 1, max: 10_000_000 },
  targetBatchMs: { min: 0, max: MINUTE },
  gateReplicationLagMs: { min: 0, max: 24 * HOUR },
  gateLockWaitMs: { min: 0, max: HOUR },
  gateTransactionAgeMs: { min: 0, max: 7 * 24 * HOUR },
  gateWalBytesPerSecond: { min: 0, max: 100 * 1024 ** 3 },
} as const satisfies Record<string, { min: number; max: number }>;

const bounded = (l: { min: number; max: number }) => z.number().int().min(l.min).max(l.max);
const L = LIMITS;

/** A daily window in local time, "HH:MM-HH:MM" (24-hour clock; it may cross midnight). */
export const WINDOW_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/** Whether Intl knows `zone` as a time zone (IANA names such as Europe/Berlin, or UTC). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const RunSettingsSchema = z.object({
  /** Rows per batch (one UPDATE). */
  batchSize: bounded(L.batchSize).default(5000),
  /** Throttle shared by every worker of the run; 0 = unlimited. */
  maxRowsPerSecond: bounded(L.maxRowsPerSecond).default(0),
  statementTimeoutMs: bounded(L.statementTimeoutMs).default(30_000),
  /** The backfill loses lock fights, the application wins. */
  lockTimeoutMs: bounded(L.lockTimeoutMs).default(2000),
  onBadRow: z.enum(['fail', 'skip']).default('fail'),
  /** BullMQ attempts per shard job, and the first exponential backoff delay between them. */
  attempts: bounded(L.attempts).default(5),
  backoffMs: bounded(L.backoffMs).default(5000),
  /**
   * Shards processed at once by the whole fleet, however many workers stand (0 = no limit: every free
   * worker slot takes one). Each shard in flight is an UPDATE stream (more with --writers): this is the
   * run's load on the database, so scaling workers out adds capacity, not load. Measured here (2 cores
   * shared by PostgreSQL and the workers, 1.5M rows): two workers with two slots each, unlimited, ran
   * 0.90–0.95 × one `run` process, at 2.3 µs more database CPU per row (four UPDATE streams contend on
   * the index and the WAL); limited to 2, they ran 0.98–1.01 ×.
   */
  parallelism: bounded(L.parallelism).default(2),
  /**
   * Adaptive batch size: each batch's write aims at this long (0 = keep batchSize fixed), between
   * minBatchSize and maxBatchSize. batchSize is where it starts.
   */
  targetBatchMs: bounded(L.targetBatchMs).default(300),
  minBatchSize: bounded(L.batchSize).default(100),
  maxBatchSize: bounded(L.batchSize).default(20_000),
  /** Health gates (0 / false / null = off): the backfill holds while one says so. */
  gateReplicationLagMs: bounded(L.gateReplicationLagMs).default(10_000),
  gateLockWaitMs: bounded(L.gateLockWaitMs).default(1000),
  gateTransactionAgeMs: bounded(L.gateTransactionAgeMs).default(HOUR),
  gateAutovacuum: z.boolean().default(false),
  gateWalBytesPerSecond: bounded(L.gateWalBytesPerSecond).default(0),
  gateSql: z.string().trim().min(1).max(10_000).nullable().default(null),
  window: z
    .string()
    .regex(WINDOW_PATTERN, { message: 'must be HH:MM-HH:MM, e.g. 22:00-06:00' })
    .nullable()
    .default(null),
  timezone: z
    .string()
    .refine(isTimeZone, { message: 'must be a time zone such as UTC or Europe/Berlin' })
    .default('UTC'),
});
export type RunSettings = z.infer<typeof RunSettingsSchema>;
export const RUN_SETTINGS_DEFAULTS: RunSettings = RunSettingsSchema.parse({});

/** A reason the settings cannot go together, naming the setting, or null. */
export function runSettingsConflict(s: RunSettings): { key: keyof RunSettings; message: string } | null {
  if (s.minBatchSize > s.maxBatchSize)
    return { key: 'minBatchSize', message: `must not be above maxBatchSize (${s.maxBatchSize})` };
  if (s.window !== null && s.window.slice(0, 5) === s.window.slice(6))
    return { key: 'window', message: 'must not start and end at the same time (use off for always)' };
  return null;
}

/** Settings as a whole: each value within its bounds, and together consistent; or which one is not, and why. */
export function checkRunSettings(
  candidate: unknown,
): { ok: true; settings: RunSettings } | { ok: false; key: string; message: string } {
  const r = RunSettingsSchema.safeParse(candidate);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return { ok: false, key: issue.path.map(String).join('.'), message: issue.message };
  }
  const conflict = runSettingsConflict(r.data);
  if (conflict) return { ok: false, key: conflict.key, message: conflict.message };
  return { ok: true, settings: r.data };
}

/**
 * Stored settings (any version of the ledger) as today's settings: missing keys get their defaults, so
 * a run started before a setting existed reads it as the default.
 */
export function storedRunSettings(raw: unknown): RunSettings {
  const r = RunSettingsSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  // A stored value today's schema refuses (a bound tightened since): keep what still parses.
  const picked: Record<string, unknown> = {};
  const shape = RunSettingsSchema.shape as Record<string, z.ZodType>;
  for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
    if (k in shape && shape[k]!.safeParse(v).success) picked[k] = v;
  }
  return RunSettingsSchema.parse(picked);
}

/** Run options that are not stored with the run: how a run is planned. */
export const PLAN_DEFAULTS = {
  /**
   * Target rows per shard. Big enough that a shard's pipeline start (its first read, overlapping nothing)
   * is a small share of it; the tail of a run is work stealing's job, not small shards'. Measured here on
   * 1M rows: 100k-row shards ran 1 and 2 workers at 0.89–0.92 × `run`, 250k-row shards at 0.96.
   */
  shardRows: 250_000,
  order: 'asc' as 'asc' | 'desc',
  planner: 'auto' as 'auto' | 'keyset' | 'histogram',
};

/** `backfill run` (one process, no Redis): UPDATEs in flight at once, each on its own connection. */
export const SINGLE_PROCESS_WRITERS = 2;

/** `backfill run`: how long it keeps reconnecting to a lost PostgreSQL before it stops (exit 3). */
export const SINGLE_PROCESS_RECONNECT_BUDGET_MS = MINUTE;

export const WorkerSettingsSchema = z.object({
  /**
   * Shards processed at once by this process (each uses 1 + writers connections). Two shards of one
   * writer each keep as many UPDATEs in flight as one shard of two writers, but one shard's start and
   * finish overlap the other's work: ~8% more rows/s.
   */
  concurrency: bounded(L.concurrency).default(2),
  /** UPDATEs in flight per shard, each on its own connection; batches still commit in order. */
  writers: bounded(L.writers).default(1),
  /** SIGTERM: how long to wait for in-flight batches before forcing the close. */
  shutdownTimeoutMs: bounded(L.shutdownTimeoutMs).default(30_000),
  /** BullMQ lock duration; a SIGKILLed worker's shard returns to the queue after about this long. */
  lockDurationMs: bounded(L.lockDurationMs).default(30_000),
  /** How often stalled (lock-expired) jobs are looked for. */
  stalledIntervalMs: bounded(L.stalledIntervalMs).default(30_000),
  /** How often the ledger is read for new runs, pauses and setting changes. */
  pollIntervalMs: bounded(L.pollIntervalMs).default(1000),
  /**
   * Work stealing: a worker with an idle slot and no job waiting takes the second half of the work left
   * in the biggest running shard, so the last shards of a run never run alone on a fleet half idle.
   */
  steal: z.boolean().default(true),
  /** Prometheus metrics and health checks (/metrics, /healthz, /readyz) on this port; 0 = none. */
  metricsPort: z.number().int().min(0).max(65_535).default(0),
  /** The address the metrics port listens on (all interfaces: probes and scrapers come from outside). */
  metricsHost: z.string().min(1).max(255).default('0.0.0.0'),
});
export type WorkerTuning = z.infer<typeof WorkerSettingsSchema>;
export const WORKER_SETTINGS_DEFAULTS: WorkerTuning = WorkerSettingsSchema.parse({});

/** Everything a worker process needs: where the services are, its tuning, and its name in the ledger. */
export interface WorkerSettings extends WorkerTuning {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  /** Where the queues live (QUEUE_BACKEND). */
  queueBackend: 'redis' | 'postgres';
  /** Name recorded in the ledger for the shards this process works on. */
  workerId: string;
}

/** 30000 → "30s", 250 → "250ms", 120000 → "2m", 3600000 → "1h": how durations are shown in `--help`. */
export function formatDuration(ms: number): string {
  if (ms % HOUR === 0 && ms >= HOUR) return `${ms / HOUR}h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
