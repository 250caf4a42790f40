// A run's --max-rows-per-second is one budget shared by every worker (in Redis, or in PostgreSQL when
// the queues live there): adding replicas must never add throughput beyond it. Both backends alike.
import { openTransport, type QueueTransport } from '@backfill/control';
import { RunBudgets } from '@backfill/control/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../../test-support/db.js';
import { REDIS_URL, removeRedisKeys } from '../../../test-support/distributed.js';

const PREFIX = `bft-budgets-${process.pid}`;
const transports: QueueTransport[] = [];
afterAll(async () => {
  for (const t of transports) await t.close();
  await removeRedisKeys(PREFIX);
});

describe.each(['redis', 'postgres'] as const)('the shared run budget (%s)', (backend) => {
  let database: Promise<string> | undefined;
  /** A worker process's own connection and RunBudgets. */
  const worker = async () => {
    // One database per backend; the promise itself is shared so concurrent workers don't both create it.
    database ??= migratedDatabase(`budgets_${backend}`);
    const databaseUrl = await database;
    const t = await openTransport(
      { backend, redisUrl: REDIS_URL, databaseUrl, prefix: PREFIX },
      { long: true },
    );
    transports.push(t);
    return new RunBudgets(t);
  };

  it('holds two workers of one run together to the cap', async () => {
    const rate = 500;
    const batch = 100;
    const forMs = 3000;
    const workers = await Promise.all(
      [0, 1].map(async () => (await worker()).forRun({ id: 1, queue: `run-1-${backend}` }, rate)),
    );
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
    // total/rate − 1 seconds after the first. 50 ms: the store and this process read the clock in whole ms.
    expect(lastGrant - started + 50).toBeGreaterThanOrEqual((total / rate - 1) * 1000);
  });

  it('is its own for run 1 of another database sharing the store and prefix (keyed by queue, not run id)', async () => {
    const rate = 1000;
    const budgets = await worker();
    // Run 1 of database A spends its whole second; run 1 of database B must not wait for it.
    await budgets.forRun({ id: 1, queue: `run-1-dba-${backend}` }, rate).acquire(rate);
    const t0 = Date.now();
    await budgets.forRun({ id: 1, queue: `run-1-dbb-${backend}` }, rate).acquire(rate);
    expect(Date.now() - t0).toBeLessThan(500);
    // The same run again waits for its next second.
    const t1 = Date.now();
    await budgets.forRun({ id: 1, queue: `run-1-dba-${backend}` }, rate).acquire(rate);
    expect(Date.now() - t1).toBeGreaterThan(200);
    expect(budgets.size()).toBe(2);
    budgets.prune([{ id: 1, queue: `run-1-dbb-${backend}` }]);
    expect(budgets.size()).toBe(1);
  });

  it('counts rows per second, read back as a series', async () => {
    const t = transports.at(-1)!;
    const queue = `run-9-count-${backend}`;
    t.count(queue, 7);
    t.count(queue, 5);
    await new Promise((r) => setTimeout(r, 1200));
    const series = await t.series(queue, 5);
    expect(series).toHaveLength(5);
    expect(series.reduce((a, b) => a + b, 0)).toBe(12);
  });
});
