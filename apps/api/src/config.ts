// The API's configuration, parsed once at the edge: environment (where to listen, which database) and
// flags (limits and timings). Every default is written here once; the flags and --help derive from it.
import { byteSize, choice, durationIn, int, parseOptions } from '@backfill/engine/cli';
import { type EnvConfig, parseEnv } from '@backfill/engine/config';
import { UsageError } from '@backfill/engine/errors';
import { z } from 'zod';

/** Events one POST may carry (`--batch-limit`). */
export const DEFAULT_BATCH_LIMIT = 1000;
/** Largest request body (`--body-limit`); a bigger one is refused with 413. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export const API_DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  batchLimit: DEFAULT_BATCH_LIMIT,
  bodyLimit: DEFAULT_BODY_LIMIT,
  /** GET /runs/:runId/logs: rows per page by default, and at most. */
  pageSize: 100,
  maxPageSize: 1000,
  /** How often the event_id column is looked for again (also at once after an insert misses it). */
  schemaRecheckMs: 5000,
  /** How often the stream tail looks for rows no NOTIFY announced (writers other than this API). */
  pollIntervalMs: 500,
  /** A comment line on every open stream this often, so proxies and clients keep it open. */
  heartbeatMs: 15_000,
  /** The `retry:` an event stream tells its client (reconnect delay). */
  sseRetryMs: 1000,
  /** A stream whose unsent output passes this stops getting live rows and reads from the database instead. */
  streamBufferBytes: 256 * 1024,
  /** A stream that has sent nothing out for this long while over its buffer is closed (a dead client). */
  streamStallMs: 60_000,
  poolSize: 10,
  statementTimeoutMs: 10_000,
  eventIds: 'auto' as EventIdMode,
} as const;

/** `auto`: write event_id whenever the column exists (found at start, re-checked); `off`: never. */
export type EventIdMode = 'auto' | 'off';

export interface ApiSettings {
  batchLimit: number;
  bodyLimit: number;
  pageSize: number;
  maxPageSize: number;
  schemaRecheckMs: number;
  pollIntervalMs: number;
  heartbeatMs: number;
  sseRetryMs: number;
  streamBufferBytes: number;
  streamStallMs: number;
  eventIds: EventIdMode;
}

export const DEFAULT_API_SETTINGS: ApiSettings = {
  batchLimit: API_DEFAULTS.batchLimit,
  bodyLimit: API_DEFAULTS.bodyLimit,
  pageSize: API_DEFAULTS.pageSize,
  maxPageSize: API_DEFAULTS.maxPageSize,
  schemaRecheckMs: API_DEFAULTS.schemaRecheckMs,
  pollIntervalMs: API_DEFAULTS.pollIntervalMs,
  heartbeatMs: API_DEFAULTS.heartbeatMs,
  sseRetryMs: API_DEFAULTS.sseRetryMs,
  streamBufferBytes: API_DEFAULTS.streamBufferBytes,
  streamStallMs: API_DEFAULTS.streamStallMs,
  eventIds: API_DEFAULTS.eventIds,
};

const kb = (n: number) => (n % (1024 * 1024) === 0 ? `${n / 1024 / 1024}MB` : `${n / 1024}KB`);
const ms = (n: number) => (n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`);

/** The flags of `backfill-api`, with their defaults as flag strings (from API_DEFAULTS). */
export const API_FLAGS = [
  {
    flags: '--batch-limit <n>',
    description: 'events one POST may carry (1–10000)',
    defaultValue: String(API_DEFAULTS.batchLimit),
  },
  {
    flags: '--body-limit <size>',
    description: 'largest request body, e.g. 512KB, 1MB (bigger: 413)',
    defaultValue: kb(API_DEFAULTS.bodyLimit),
  },
  {
    flags: '--event-ids <mode>',
    description: 'auto: write event_id whenever the column exists; off: never (rows left to the backfill)',
    defaultValue: API_DEFAULTS.eventIds,
  },
  {
    flags: '--schema-recheck <duration>',
    description: 'look for the event_id column again this often (and at once when an insert misses it)',
    defaultValue: ms(API_DEFAULTS.schemaRecheckMs),
  },
  {
    flags: '--poll-interval <duration>',
    description: 'streams: look for rows written by other writers (no NOTIFY) this often',
    defaultValue: ms(API_DEFAULTS.pollIntervalMs),
  },
  {
    flags: '--heartbeat <duration>',
    description: 'streams: a comment line this often',
    defaultValue: ms(API_DEFAULTS.heartbeatMs),
  },
  {
    flags: '--sse-retry <duration>',
    description: 'streams: the reconnect delay sent to clients (retry:)',
    defaultValue: ms(API_DEFAULTS.sseRetryMs),
  },
  {
    flags: '--stream-buffer <size>',
    description: 'streams: unsent bytes after which a slow client reads from the database at its own pace',
    defaultValue: kb(API_DEFAULTS.streamBufferBytes),
  },
  {
    flags: '--pool-size <n>',
    description: 'PostgreSQL connections (1–100), plus one for LISTEN',
    defaultValue: String(API_DEFAULTS.poolSize),
  },
  {
    flags: '--statement-timeout <duration>',
    description: 'statement_timeout of every API query',
    defaultValue: ms(API_DEFAULTS.statementTimeoutMs),
  },
] as const;

const FlagsSchema = z.object({
  batchLimit: int(1, 10_000),
  bodyLimit: byteSize.pipe(
    z
      .number()
      .min(1024, { message: 'must be at least 1KB' })
      .max(64 * 1024 * 1024, { message: 'must be at most 64MB' }),
  ),
  eventIds: choice(['auto', 'off']),
  schemaRecheck: durationIn({ min: 100, max: 3_600_000 }),
  pollInterval: durationIn({ min: 10, max: 60_000 }),
  heartbeat: durationIn({ min: 100, max: 3_600_000 }),
  sseRetry: durationIn({ min: 0, max: 3_600_000 }),
  streamBuffer: byteSize.pipe(
    z
      .number()
      .min(1024, { message: 'must be at least 1KB' })
      .max(256 * 1024 * 1024, { message: 'must be at most 256MB' }),
  ),
  poolSize: int(1, 100),
  statementTimeout: durationIn({ min: 1, max: 3_600_000 }),
});

export interface ApiConfig {
  env: EnvConfig;
  port: number;
  host: string;
  poolSize: number;
  statementTimeoutMs: number;
  settings: ApiSettings;
}

const ServerEnvSchema = z.object({
  PORT: z
    .string()
    .regex(/^\d{1,5}$/, { message: 'must be a port number (0–65535)' })
    .transform(Number)
    .pipe(z.number().max(65535, { message: 'must be a port number (0–65535)' }))
    .default(API_DEFAULTS.port),
  HOST: z.string().min(1, { message: 'must be a host name or address' }).default(API_DEFAULTS.host),
});

/** PORT and HOST; an error names the variable. */
export function parseServerEnv(env: NodeJS.ProcessEnv = process.env): { port: number; host: string } {
  const picked = { PORT: env.PORT || undefined, HOST: env.HOST || undefined };
  const result = ServerEnvSchema.safeParse(picked);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UsageError(`environment variable ${String(issue.path[0])}: ${issue.message}`);
  }
  return { port: result.data.PORT, host: result.data.HOST };
}

/** Flags (commander's option values, strings) and the environment → the API's configuration. */
export function parseApiConfig(rawFlags: unknown, env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const f = parseOptions(FlagsSchema, rawFlags);
  const server = parseServerEnv(env);
  return {
    env: parseEnv(env),
    ...server,
    poolSize: f.poolSize,
    statementTimeoutMs: f.statementTimeout,
    settings: {
      ...DEFAULT_API_SETTINGS,
      batchLimit: f.batchLimit,
      bodyLimit: f.bodyLimit,
      eventIds: f.eventIds,
      schemaRecheckMs: f.schemaRecheck,
      pollIntervalMs: f.pollInterval,
      heartbeatMs: f.heartbeat,
      sseRetryMs: f.sseRetry,
      streamBufferBytes: f.streamBuffer,
    },
  };
}
