// A distributed backfill through a real 3-master Redis Cluster (the queue prefix's {hash tag} puts all
// of a queue's keys in one slot), with the master owning that slot killed and restarted mid-run: its
// keys are gone (nothing persisted), the workers' reconciler puts the jobs back from the ledger, and the
// run completes with every row once.
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { withClient } from '../../../test-support/db.js';
import { distributedEnv, prepared, startRun, verifyComplete } from '../../../test-support/distributed.js';
import {
  type Fleet,
  rowsDone,
  startFleet,
  stopFleet,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { type RedisCluster, startRedisCluster } from '../../../test-support/redis-cluster.js';

const TAG = `{bft-cluster-${process.pid}}`;
const ROWS = 60_000;
let cluster: RedisCluster | undefined;
let fleet: Fleet | undefined;
afterAll(async () => {
  if (fleet) await stopFleet(fleet);
  await cluster?.stop();
});

describe('Redis Cluster', { timeout: 180_000 }, () => {
  it('refuses a queue prefix without a {hash tag} on a cluster (exit 2)', async () => {
    const res = await runCli(['status'], {
      REDIS_URL: 'redis+cluster://127.0.0.1:7000',
      QUEUE_PREFIX: 'plain',
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/QUEUE_PREFIX: must hold a \{hash tag\} on a Redis Cluster/);
  });

  it('runs a distributed backfill through it, with the master of the queue restarted mid-run', async () => {
    cluster = await startRedisCluster();
    const url = await prepared('redis_cluster', ROWS);
    const env = distributedEnv(url, TAG, { REDIS_URL: cluster.url });
    await startRun(env, 'rc', [
      '--shard-rows',
      '10000',
      '--batch-size',
      '1000',
      '--max-rows-per-second',
      '8000',
    ]);
    fleet = startFleet(2, env);
    await waitFor('some progress', async () => (await rowsDone(url)) >= 15_000);
    const owner = cluster.ownerOf(TAG);
    await cluster.restart(owner);
    await waitForRunStatus(url, 'rc', 'completed', 150_000);
    await verifyComplete(env, String(ROWS));
    const counted = await withClient(url, async (c) =>
      Number((await c.query('SELECT sum(rows_updated) AS n FROM backfill_shards')).rows[0].n),
    );
    expect(counted).toBe(ROWS);
    const status = await runCli(['status', 'rc', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
  });
});
