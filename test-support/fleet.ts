// Worker processes and run-level waits for the distributed tests.
import type { ChildProcess } from 'node:child_process';
import { collect, spawnWorker } from './cli.js';
import { withClient } from './db.js';

export interface Fleet {
  procs: ChildProcess[];
  logs: string[];
  add(): ChildProcess;
  stopAll(): Promise<void>;
}

export const FAST_WORKER_FLAGS = [
  '--lock-duration',
  '4s',
  '--stalled-interval',
  '2s',
  '--poll-interval',
  '200ms',
  '--shutdown-timeout',
  '10s',
];

/** FAST_WORKER_FLAGS without work stealing: for tests that follow one shard's ledger row exactly. */
export const WHOLE_SHARD_FLAGS = [...FAST_WORKER_FLAGS, '--steal', 'off'];

export function startFleet(
  n: number,
  env: Record<string, string>,
  flags: string[] = FAST_WORKER_FLAGS,
): Fleet {
  const procs: ChildProcess[] = [];
  const logs: string[] = [];
  const done: Promise<unknown>[] = [];
  const add = () => {
    const p = spawnWorker(flags, { LOG_LEVEL: 'info', ...env });
    const i = logs.push('') - 1;
    p.stderr!.on('data', (d) => {
      logs[i] += d;
    });
    procs.push(p);
    done.push(collect(p));
    return p;
  };
  for (let i = 0; i < n; i++) add();
  return {
    procs,
    logs,
    add,
    async stopAll() {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await Promise.all(done);
    },
  };
}

/** Resolves once every worker of the fleet has logged that it started (it is polling for work). */
export const waitForFleetStarted = (fleet: Fleet, timeoutMs = 60_000) =>
  waitFor(
    `${fleet.procs.length} workers to start`,
    async () => fleet.logs.every((l) => l.includes('"msg":"worker started"')),
    timeoutMs,
    50,
  );

/**
 * SIGTERM every worker; SIGKILL whoever is still up after `graceMs`. A worker stuck in a batch may not
 * stop in time, and must not hang the test file.
 */
export async function stopFleet(fleet: Fleet, graceMs = 20_000): Promise<void> {
  const stopped = fleet.stopAll();
  const inTime = await Promise.race([
    stopped.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
  ]);
  if (!inTime)
    for (const p of fleet.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await stopped;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 120_000,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const runStatusOf = (url: string, name: string) =>
  withClient(
    url,
    async (c) =>
      (await c.query('SELECT status FROM backfill_runs WHERE name = $1', [name])).rows[0]?.status as
        | string
        | undefined,
  );

export const waitForRunStatus = (url: string, name: string, status: string, timeoutMs?: number) =>
  waitFor(`run ${name} to be ${status}`, async () => (await runStatusOf(url, name)) === status, timeoutMs);

export const rowsDone = (url: string) =>
  withClient(url, async (c) =>
    Number((await c.query('SELECT sum(rows_updated) AS n FROM backfill_shards')).rows[0].n ?? 0),
  );

/** Until some shard is running and has committed at least one batch (a checkpoint). */
export const waitForCheckpoint = (url: string) =>
  waitFor('a running shard with a checkpoint', () =>
    withClient(
      url,
      async (c) =>
        (
          await c.query(
            `SELECT 1 FROM backfill_shards WHERE status = 'running' AND checkpoint_id IS NOT NULL`,
          )
        ).rowCount,
    ),
  );
