// The worker's command-line flags, derived from the settings schema: the worker app and the
// `backfill worker` alias register the same flags with the same defaults and parse them alike. A subpath
// of its own (@backfill/control/flags) so a CLI that only prints help loads no BullMQ.

import { hostname } from 'node:os';
import { type FlagSpec as CliFlagSpec, durationIn, intIn, onOff, parseOptions } from '@backfill/engine/cli';
import {
  formatDuration,
  LIMITS,
  WORKER_SETTINGS_DEFAULTS,
  type WorkerSettings,
  type WorkerTuning,
} from '@backfill/shared/settings';
import { z } from 'zod';

/** A flag with its default (every flag here has one). */
export type FlagSpec = Required<CliFlagSpec>;

const d = WORKER_SETTINGS_DEFAULTS;

export const WORKER_FLAGS: readonly FlagSpec[] = [
  {
    flags: '--concurrency <n>',
    description: 'shards at once in this process (1 + writers connections each)',
    defaultValue: String(d.concurrency),
  },
  {
    flags: '--writers <n>',
    description: 'UPDATEs in flight per shard, each on its own connection (batches still commit in order)',
    defaultValue: String(d.writers),
  },
  {
    flags: '--shutdown-timeout <duration>',
    description: 'wait this long for in-flight batches on SIGTERM',
    defaultValue: formatDuration(d.shutdownTimeoutMs),
  },
  {
    flags: '--lock-duration <duration>',
    description: "a killed worker's shard returns to the queue after about this long",
    defaultValue: formatDuration(d.lockDurationMs),
  },
  {
    flags: '--stalled-interval <duration>',
    description: 'how often lock-expired shards are looked for',
    defaultValue: formatDuration(d.stalledIntervalMs),
  },
  {
    flags: '--poll-interval <duration>',
    description: 'how often the ledger is read for new runs and pauses',
    defaultValue: formatDuration(d.pollIntervalMs),
  },
  {
    flags: '--steal <on|off>',
    description:
      'with an idle slot and no job waiting, take half of the work left in the biggest running shard',
    defaultValue: d.steal ? 'on' : 'off',
  },
  {
    flags: '--metrics-port <port>',
    description: 'serve Prometheus metrics (/metrics) and health checks (/healthz, /readyz) here; 0 = off',
    defaultValue: String(d.metricsPort),
  },
  {
    flags: '--metrics-host <host>',
    description: 'the address the metrics port listens on',
    defaultValue: d.metricsHost,
  },
];

const WorkerFlags = z.object({
  concurrency: intIn(LIMITS.concurrency),
  writers: intIn(LIMITS.writers),
  shutdownTimeout: durationIn(LIMITS.shutdownTimeoutMs),
  lockDuration: durationIn(LIMITS.lockDurationMs),
  stalledInterval: durationIn(LIMITS.stalledIntervalMs),
  pollInterval: durationIn(LIMITS.pollIntervalMs),
  steal: onOff,
  metricsPort: intIn({ min: 0, max: 65_535 }),
  metricsHost: z.string().min(1).max(255),
});

/** commander's parsed options → the worker's tuning; errors name the flag (UsageError). */
export function parseWorkerFlags(raw: unknown): WorkerTuning {
  const o = parseOptions(WorkerFlags, raw);
  return {
    concurrency: o.concurrency,
    writers: o.writers,
    shutdownTimeoutMs: o.shutdownTimeout,
    lockDurationMs: o.lockDuration,
    stalledIntervalMs: o.stalledInterval,
    pollIntervalMs: o.pollInterval,
    steal: o.steal,
    metricsPort: o.metricsPort,
    metricsHost: o.metricsHost,
  };
}

/** The worker's whole settings: its tuning, the services from the environment, and its name in the ledger. */
export function workerSettings(
  tuning: WorkerTuning,
  env: { DATABASE_URL: string; REDIS_URL: string; QUEUE_PREFIX: string; QUEUE_BACKEND: 'redis' | 'postgres' },
): WorkerSettings {
  return {
    ...tuning,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    queueBackend: env.QUEUE_BACKEND,
    prefix: env.QUEUE_PREFIX,
    workerId: `${hostname()}:${process.pid}`,
  };
}
