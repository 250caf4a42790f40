// Workers cut off from one of their services while the other still answers (test-support/tcp-proxy.js
// between one worker and the service):
// - from PostgreSQL, not Redis: its BullMQ locks would renew forever. The silence watchdog fails the
//   statement in flight, the shard's reconnect budget (the lock duration) runs out, and the worker hands
//   the job back to the queue (no attempt used) and stops taking jobs until PostgreSQL answers; another
//   worker finishes the shard. When the network returns, the first worker takes jobs again.
// - from Redis, not PostgreSQL: its locks expire and another worker takes the shard over. The first
//   stops working on it within a lock duration (its lock watch), and its claim is fenced anyway.
// Either way: every row once, counters exact, the run completed.
import { verifyRange } from '@backfill/engine/backfill';
import { silentLogger } from '@backfill/engine/logger';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import {
  distributedEnv,
  fleetLogLines,
  REDIS_URL,
  removeRedisKeys,
  startRun,
} from '../../../test-support/distributed.js';
import {
  type Fleet,
  startFleet,
  stopFleet,
  WHOLE_SHARD_FLAGS,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';
import { type FaultProxy, startFaultProxy, viaProxy } from '../../../test-support/tcp-proxy.js';

const PREFIX = `bft-partitions-${process.pid}`;
const ROWS = 60_000;
const BATCH = 1000;
let proxy: FaultProxy | undefined;
const fleets: Fleet[] = [];
afterEach(async () => {
  proxy?.setMode({ kind: 'pass' });
  for (const f of fleets.splice(0)) await stopFleet(f, 15_000);
  await proxy?.close();
  proxy = undefined;
});
afterAll(() => removeRedisKeys(PREFIX));

const shardOf = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT epoch, status, checkpoint_id::int AS ck, rows_updated::int AS rows, batches FROM backfill_shards`,
    );
    return rows[0] as { epoch: number; status: string; ck: number | null; rows: number; batches: number };
  });

async function oneShardRun(name: string, prefix: string) {
  const url = await migratedDatabase(`partitions_${name}`);
  await seedLegacyRows(url, ROWS);
  const env = distributedEnv(url, prefix);
  await startRun(env, name, [
    '--shard-rows',
    String(ROWS),
    '--batch-size',
    String(BATCH),
    '--target-batch-ms',
    '0', // fixed batches: the counters are checked exactly
    '--statement-timeout',
    '2s',
    '--lock-timeout',
    '2s',
    // Slow enough that the first worker is cut off mid-shard.
    '--max-rows-per-second',
    '5000',
  ]);
  return { url, env };
}

async function expectExact(url: string, name: string) {
  const shard = await shardOf(url);
  expect(shard.status).toBe('completed');
  expect(shard.rows).toBe(ROWS);
  expect(shard.batches).toBe(ROWS / BATCH);
  const v = await verifyRange({ databaseUrl: url, mode: { full: true }, logger: silentLogger });
  expect(v).toMatchObject({ rowsChecked: ROWS, mismatches: 0, nullCount: 0 });
  const run = await withClient(url, (c) =>
    c.query('SELECT status FROM backfill_runs WHERE name = $1', [name]),
  );
  expect(run.rows[0].status).toBe('completed');
}

const logged = (fleet: Fleet, worker: number, msg: RegExp) =>
  fleetLogLines({ ...fleet, logs: [fleet.logs[worker]!] }).some((l) => msg.test(String(l.msg)));

describe('a worker partitioned from one service', { timeout: 240_000 }, () => {
  it('cut off from PostgreSQL (not Redis): hands its shard back and pauses; another worker finishes it', async () => {
    const { url, env } = await oneShardRun('nopg', `${PREFIX}-pg`);
    const u = new URL(url);
    proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || 5432) });
    const cutOff = startFleet(1, { ...env, DATABASE_URL: viaProxy(url, proxy) }, WHOLE_SHARD_FLAGS);
    fleets.push(cutOff);
    await waitFor('the first worker to checkpoint', async () => ((await shardOf(url)).ck ?? 0) >= 5 * BATCH);
    const healthy = startFleet(1, env, WHOLE_SHARD_FLAGS);
    fleets.push(healthy);
    proxy.setMode({ kind: 'blackhole' });
    await waitFor(
      'the cut-off worker to hand the shard back',
      async () => logged(cutOff, 0, /PostgreSQL unreachable: handing the shard back/),
      60_000,
    );
    expect(logged(cutOff, 0, /not taking shards until it answers/)).toBe(true);
    await waitFor(
      'the healthy worker to claim the shard',
      async () => (await shardOf(url)).epoch >= 2,
      30_000,
    );
    await waitForRunStatus(url, 'nopg', 'completed', 120_000);
    proxy.setMode({ kind: 'pass' });
    await waitFor(
      'the cut-off worker to see PostgreSQL again',
      async () => logged(cutOff, 0, /PostgreSQL answers again/),
      60_000,
    );
    await expectExact(url, 'nopg');
  });

  it('cut off from Redis (not PostgreSQL): stops working on its shard once its lock is gone; another takes it over', async () => {
    const { url, env } = await oneShardRun('noredis', `${PREFIX}-redis`);
    const r = new URL(REDIS_URL);
    proxy = await startFaultProxy({ host: r.hostname, port: Number(r.port || 6379) });
    const cutOff = startFleet(1, { ...env, REDIS_URL: viaProxy(REDIS_URL, proxy) }, WHOLE_SHARD_FLAGS);
    fleets.push(cutOff);
    await waitFor('the first worker to checkpoint', async () => ((await shardOf(url)).ck ?? 0) >= 5 * BATCH);
    const healthy = startFleet(1, env, WHOLE_SHARD_FLAGS);
    fleets.push(healthy);
    proxy.setMode({ kind: 'blackhole' });
    await waitFor(
      'the cut-off worker to stop working on the shard',
      async () => logged(cutOff, 0, /its lock was not renewed/),
      30_000,
    );
    await waitFor(
      'the healthy worker to take the shard over',
      async () => (await shardOf(url)).epoch >= 2,
      30_000,
    );
    await waitForRunStatus(url, 'noredis', 'completed', 120_000);
    proxy.setMode({ kind: 'pass' });
    await expectExact(url, 'noredis');
  });
});
