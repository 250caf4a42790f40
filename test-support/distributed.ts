// Shared by the distributed test files (a fleet of worker processes, real Redis and PostgreSQL): the
// environment the CLI and the workers run with, the steps every test takes, what they read back from the
// ledger, the queue and the workers' logs, and the removal of a file's Redis keys when it ends.
import { jobCounts, openTransport } from '@backfill/control';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { runCli } from './cli.js';
import { migratedDatabase, withClient } from './db.js';
import type { Fleet } from './fleet.js';
import { seedLegacyRows } from './seed.js';

/** The Redis of the suite (`REDIS_URL`, as for the CLI and the workers), unless a test starts its own. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export type Env = Record<string, string>;

/** A copy of the migrated template with `rows` legacy rows (event_id NULL). */
export async function prepared(name: string, rows: number): Promise<string> {
  const url = await migratedDatabase(`dist_${name}`);
  await seedLegacyRows(url, rows);
  return url;
}

/**
 * The environment of the CLI and the workers of one test: its database, the file's own BullMQ prefix
 * (files run in parallel on one Redis), and REDIS_URL passed on explicitly rather than left to chance.
 */
export const distributedEnv = (url: string, prefix: string, extra: Env = {}): Env => ({
  DATABASE_URL: url,
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  ...extra,
});

/** The queue backends the distributed tests run on, each test once per backend. */
export const QUEUE_BACKENDS = ['redis', 'postgres'] as const;
export type QueueBackend = (typeof QUEUE_BACKENDS)[number];

/**
 * The environment of a test on `backend`. On PostgreSQL queues REDIS_URL names a port where nothing
 * listens: any use of Redis at all would fail the run.
 */
export const backendEnv = (url: string, prefix: string, backend: QueueBackend, extra: Env = {}): Env =>
  distributedEnv(
    url,
    prefix,
    backend === 'postgres'
      ? { QUEUE_BACKEND: 'postgres', REDIS_URL: 'redis://127.0.0.1:1', ...extra }
      : extra,
  );

/** `backfill start --commit --json`, which must succeed; its JSON report. */
export async function startRun(env: Env, name: string, args: string[] = []) {
  const res = await runCli(['start', '--name', name, '--commit', '--json', ...args], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

/** `backfill verify --full --expect-complete` over ids up to `toId`, which must pass; its JSON report. */
export async function verifyComplete(env: Env, toId: string) {
  const res = await runCli(['verify', '--full', '--expect-complete', '--to-id', toId, '--json'], env);
  expect(res.code, res.stdout + res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

/** Each shard's 'completed' transitions, counted: exactly one per shard that was not split. */
export async function completions(url: string) {
  return withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT s.shard_no, s.status, count(e.id) FILTER (WHERE e.to_status = 'completed')::int AS completed
         FROM backfill_shards s LEFT JOIN backfill_shard_events e ON e.run_id = s.run_id AND e.shard_no = s.shard_no
        GROUP BY s.shard_no, s.status ORDER BY s.shard_no`,
    );
    return rows as Array<{ shard_no: number; status: string; completed: number }>;
  });
}

/** The run's id, a number as the workers log it (pg returns a bigserial as a string). */
export async function runIdOf(url: string, name: string): Promise<number> {
  const { rows } = await withClient(url, (c) =>
    c.query('SELECT id::int AS id FROM backfill_runs WHERE name = $1', [name]),
  );
  if (!rows[0]) throw new Error(`no run named ${name} in the ledger`);
  return rows[0].id as number;
}

/** A run's BullMQ queue (named in the ledger): its job counts by state, and whether it is paused. */
export async function runQueueState(
  url: string,
  env: Env,
  name: string,
): Promise<{ counts: Record<string, number>; paused: boolean }> {
  const { rows } = await withClient(url, (c) =>
    c.query('SELECT queue FROM backfill_runs WHERE name = $1', [name]),
  );
  if (!rows[0]?.queue) throw new Error(`run ${name} has no queue in the ledger`);
  const transport = await openTransport({
    backend: env.QUEUE_BACKEND === 'postgres' ? 'postgres' : 'redis',
    redisUrl: env.REDIS_URL ?? REDIS_URL,
    databaseUrl: url,
    prefix: env.QUEUE_PREFIX ?? 'backfill',
  });
  const queue = transport.queue(rows[0].queue as string);
  try {
    const [counts, paused] = await Promise.all([
      jobCounts(queue, 'active', 'delayed', 'waiting', 'prioritized'),
      queue.isPaused(),
    ]);
    return { counts, paused };
  } finally {
    await queue.close();
    await transport.close();
  }
}

/** Every JSON log line the fleet's workers have written so far. */
export function fleetLogLines(fleet: Fleet): Array<Record<string, unknown>> {
  return fleet.logs.flatMap((text) =>
    text.split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return []; // a partial last line, or not JSON
      }
    }),
  );
}

const SHARD_JOB_ENDS = new Set([
  'shard released',
  'shard completed',
  'shard kept timing out: split in two',
  'shard failed',
  'shard attempt failed: will retry',
]);

/**
 * True when every shard job of run `runId` that a worker of the fleet claimed has ended (released,
 * completed or failed): no batch of the run is in flight in any of them.
 */
export function noShardJobInFlight(fleet: Fleet, runId: number): boolean {
  const lines = fleetLogLines(fleet).filter((l) => l.runId === runId);
  const claimed = lines.filter((l) => l.msg === 'shard claimed').length;
  const ended = lines.filter((l) => SHARD_JOB_ENDS.has(String(l.msg))).length;
  return ended >= claimed;
}

/** Deletes every key under `prefix:` (queues, rate counters, budgets): a file's own keys, nobody else's. */
export async function removeRedisKeys(prefix: string, url = REDIS_URL): Promise<void> {
  const r = new Redis(url);
  try {
    for await (const keys of r.scanStream({ match: `${prefix}:*`, count: 1000 })) {
      if ((keys as string[]).length) await r.del(...(keys as string[]));
    }
  } finally {
    r.disconnect();
  }
}
