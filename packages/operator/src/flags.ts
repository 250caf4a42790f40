// The dashboard's flags and settings, parsed at the edge: a subpath of its own (@backfill/operator/flags)
// so a CLI that only prints help loads no HTTP server. The dashboard app and `backfill dashboard` both
// register these.
import { type FlagSpec as CliFlagSpec, durationIn, intIn, parseOptions } from '@backfill/engine/cli';
import { UsageError } from '@backfill/engine/errors';
import { z } from 'zod';

/** A flag with its default (every flag here has one). */
export type FlagSpec = Required<CliFlagSpec>;

export const DASHBOARD_DEFAULTS = { host: '127.0.0.1', port: 8090, feedIntervalMs: 1000 } as const;

export const DASHBOARD_FLAGS: readonly FlagSpec[] = [
  {
    flags: '--host <host>',
    description: 'address to listen on (0.0.0.0 to expose it; set DASHBOARD_TOKEN then)',
    defaultValue: DASHBOARD_DEFAULTS.host,
  },
  { flags: '--port <port>', description: 'port to listen on', defaultValue: String(DASHBOARD_DEFAULTS.port) },
  {
    flags: '--feed-interval <duration>',
    description: 'how often the live feed reads the ledger while a page is open',
    defaultValue: '1s',
  },
];

const Flags = z.object({
  host: z.string().min(1).max(255),
  port: intIn({ min: 0, max: 65_535 }),
  feedInterval: durationIn({ min: 200, max: 60_000 }),
});

export interface DashboardSettings {
  host: string;
  port: number;
  feedIntervalMs: number;
  token: string | null;
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  queueBackend: 'redis' | 'postgres';
}

/** commander's options and the environment → settings; errors name the flag or variable. */
export function dashboardSettings(
  raw: unknown,
  env: {
    DATABASE_URL: string;
    REDIS_URL: string;
    QUEUE_PREFIX: string;
    QUEUE_BACKEND: 'redis' | 'postgres';
    DASHBOARD_TOKEN?: string | undefined;
  },
): DashboardSettings {
  const o = parseOptions(Flags, raw);
  const token = env.DASHBOARD_TOKEN?.length ? env.DASHBOARD_TOKEN : null;
  if (token !== null && token.length < 16)
    throw new UsageError(
      'environment variable DASHBOARD_TOKEN: must be at least 16 characters (or unset: read-only)',
    );
  return {
    host: o.host,
    port: o.port,
    feedIntervalMs: o.feedInterval,
    token,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    prefix: env.QUEUE_PREFIX,
    queueBackend: env.QUEUE_BACKEND,
  };
}
