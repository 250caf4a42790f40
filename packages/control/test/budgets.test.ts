// A run's --max-rows-per-second is one budget in Redis shared by every worker: adding replicas must
// never add throughput beyond it.
import { RunBudgets } from '@backfill/control/worker';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `bft-budgets-${process.pid}`;
const connections: Redis[] = [];

afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
  await Promise.all(connections.map((c) => c.quit()));
});

describe('the shared run budget', () => {
  it('holds two workers of one run together to the cap', async () => {
    const rate = 500;
    const batch = 100;
    const forMs = 3000;
    // Each worker process has its own Redis connection and its own RunBudgets.
    const workers = [0, 1].map(() => {
      const redis = new Redis(REDIS_URL);
      connections.push(redis);
      return new RunBudgets(redis, PREFIX).forRun({ id: 1, queue: 'run-1-aaaa' }, rate);
    });
    const granted = [0, 0];
    const started = Date.now();
    let lastGrant = started;
    await Promise.all(
      workers.map(async (limiter, i) => {
        while (Date.now() - started < forMs) {
          await limiter.acquire(batch);
          granted[i]! += batch;
          lastGrant = Date.now();
        }
      }),
    );
    // Neither worker starved: the cap below is met by sharing, not by one worker doing nothing.
    expect(granted.every((n) => n > 0)).toBe(true);
    const total = granted[0]! + granted[1]!;
    // The budget's one-second windows start at their first grant, so `total` rows need at least
    // total/rate − 1 seconds after the first. 50 ms: Redis and this process read the clock in whole ms.
    expect(lastGrant - started + 50).toBeGreaterThanOrEqual((total / rate - 1) * 1000);
  });

  it('is its own for run 1 of another database sharing the Redis and prefix (keyed by queue, not run id)', async () => {
    const rate = 1000;
    const redis = new Redis(REDIS_URL);
    connections.push(redis);
    const budgets = new RunBudgets(redis, PREFIX);
    // Run 1 of database A spends its whole second; run 1 of database B must not wait for it.
    await budgets.forRun({ id: 1, queue: 'run-1-dba' }, rate).acquire(rate);
    const t0 = Date.now();
    await budgets.forRun({ id: 1, queue: 'run-1-dbb' }, rate).acquire(rate);
    expect(Date.now() - t0).toBeLessThan(500);
    // The same run again waits for its next second.
    const t1 = Date.now();
    await budgets.forRun({ id: 1, queue: 'run-1-dba' }, rate).acquire(rate);
    expect(Date.now() - t1).toBeGreaterThan(200);
    expect(budgets.size()).toBe(2);
    budgets.prune([{ id: 1, queue: 'run-1-dbb' }]);
    expect(budgets.size()).toBe(1);
  });
});
