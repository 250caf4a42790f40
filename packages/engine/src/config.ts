// Environment configuration, parsed once at the edge into a typed object.
import { z } from 'zod';
import { UsageError } from './errors.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/backfill';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const urlWithScheme = (schemes: string[]) =>
  z.string().refine(
    (s) => {
      try {
        return schemes.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}` },
  );

const decodes = (part: string) => {
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
};

/** User, password and database name must be valid %-escapes (node-postgres throws a bare URIError). */
const postgresUrl = urlWithScheme(['postgres:', 'postgresql:']).refine(
  (s) => {
    const u = new URL(s);
    return [u.username, u.password, u.pathname].every(decodes);
  },
  { message: 'has a malformed %-escape in its user, password or database name (write % as %25)' },
);

/** ioredis reads the path as the database number and quietly uses 0 for anything else. */
const redisUrl = urlWithScheme(['redis:', 'rediss:', 'redis+cluster:']).refine(
  (s) => {
    const path = new URL(s).pathname;
    return path === '' || path === '/' || /^\/\d{1,5}$/.test(path);
  },
  { message: 'must name a database by its number, e.g. redis://host:6379/0 (or no path for 0)' },
);

export const QUEUE_BACKENDS = ['redis', 'postgres'] as const;

export const EnvSchema = z.object({
  DATABASE_URL: postgresUrl.default(DEFAULT_DATABASE_URL),
  REDIS_URL: redisUrl.default(DEFAULT_REDIS_URL),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Where the queues live: redis (BullMQ's own), or postgres (no Redis at all; next to the ledger). */
  QUEUE_BACKEND: z.enum(QUEUE_BACKENDS, { message: 'must be redis or postgres' }).default('redis'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]+$/, { message: 'must be letters, digits, _ . - { } (no spaces or colons)' })
    .default('backfill'),
});

export type EnvConfig = z.infer<typeof EnvSchema>;

/** Parses the environment; an error names the variable and what it accepts. */
export function parseEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const picked = Object.fromEntries(
    Object.keys(EnvSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const result = EnvSchema.safeParse(picked);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]);
    const accepted = name === 'LOG_LEVEL' ? ` (accepted: ${LOG_LEVELS.join(', ')})` : '';
    throw new UsageError(`environment variable ${name}: ${issue.message}${accepted}`);
  }
  // On a Redis Cluster every key of a queue must hash to one slot: the {hash tag} in the prefix.
  if (
    new URL(result.data.REDIS_URL).protocol === 'redis+cluster:' &&
    !/\{[^{}]+\}/.test(result.data.QUEUE_PREFIX)
  ) {
    throw new UsageError(
      `environment variable QUEUE_PREFIX: must hold a {hash tag} on a Redis Cluster (REDIS_URL is redis+cluster://), e.g. {${result.data.QUEUE_PREFIX}}`,
    );
  }
  return result.data;
}

/** The flag of every program that reaches the queues (commander syntax and help). */
export const QUEUE_BACKEND_FLAG = {
  flags: '--queue-backend <kind>',
  description: 'where the queues live: redis or postgres (no Redis at all); overrides QUEUE_BACKEND',
} as const;

/**
 * `--queue-backend`, where a program has it: the flag wins over QUEUE_BACKEND; an error names the flag.
 */
export function withQueueBackendFlag(env: EnvConfig, flag: unknown): EnvConfig {
  if (flag === undefined) return env;
  const r = z.enum(QUEUE_BACKENDS).safeParse(flag);
  if (!r.success)
    throw new UsageError(`--queue-backend: must be redis or postgres (got ${JSON.stringify(flag)})`);
  return { ...env, QUEUE_BACKEND: r.data };
}

/** postgres://user:secret@host/db → postgres://user:***@host/db, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}
