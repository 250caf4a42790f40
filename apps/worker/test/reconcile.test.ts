// The workers reconcile the ledger and the queues on their own (every --stalled-interval, one worker at
// a time): a run left stuck by a worker that died (ledger running, job failed for good) completes with
// no operator. And a second signal to a worker stops it at once, with the signal's exit code.
import { runQueueName } from '@backfill/control';
import { claimShard } from '@backfill/engine/ledger';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, spawnWorker, waitForLog } from '../../../test-support/cli.js';
import { withClient } from '../../../test-support/db.js';
import {
  distributedEnv,
  fleetLogLines,
  prepared,
  REDIS_URL,
  removeRedisKeys,
  startRun,
  verifyComplete,
} from '../../../test-support/distributed.js';
import { startFleet, stopFleet, waitForRunStatus } from '../../../test-support/fleet.js';

const PREFIX = `bft-reconcile-${process.pid}`;
afterAll(() => removeRedisKeys(PREFIX));

describe('the workers reconcile on their own', { timeout: 180_000 }, () => {
  it('a shard whose job failed for good while the ledger says running is picked up again, and the run completes', async () => {
    const url = await prepared('reconcile_ghost', 20_000);
    const env = distributedEnv(url, PREFIX);
    const started = await startRun(env, 'ghost', ['--shard-rows', '10000']);
    const run = { id: Number(started.run.id), queue: started.run.queue as string };
    // A worker took shard 0 and died past maxStalledCount: its job failed, the ledger never heard.
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const ghost = new Worker(runQueueName(run), null, { connection, prefix: PREFIX, autorun: false });
    const job = await ghost.getNextJob('ghost-token');
    await withClient(url, (c) => claimShard(c, run.id, job!.data.shardNo as number, 'ghost'));
    await job!.moveToFailed(new UnrecoverableError('job stalled more than allowable limit'), 'ghost-token');
    await ghost.close();
    connection.disconnect();

    const fleet = startFleet(1, env); // --stalled-interval 2s: it reconciles every 2 s
    try {
      await waitForRunStatus(url, 'ghost', 'completed', 90_000);
    } finally {
      await stopFleet(fleet);
    }
    const reconciled = fleetLogLines(fleet).find((l) => l.msg === 'reconciled run');
    expect(reconciled).toMatchObject({ retried: [job!.data.shardNo], requeued: [job!.data.shardNo] });
    await verifyComplete(env, String(started.run.toId));
  });

  it('a second SIGTERM stops a worker at once with exit 143 (its shard returns when its lock expires)', async () => {
    const url = await prepared('second_signal', 5000);
    const env = distributedEnv(url, PREFIX);
    await startRun(env, 'sig', [
      '--batch-size',
      '500',
      '--lock-timeout',
      '20s',
      '--statement-timeout',
      '30s',
    ]);
    // The application holds a row, so the worker's batch waits and the first SIGTERM cannot finish it.
    const app = new pg.Client({ connectionString: url });
    await app.connect();
    await app.query('BEGIN');
    await app.query('UPDATE run_logs SET level = level WHERE id = 1');
    try {
      const worker = spawnWorker(['--shutdown-timeout', '1m'], { ...env, LOG_LEVEL: 'info' });
      const exited = collect(worker);
      await waitForLog(worker, (l) => l.msg === 'shard claimed');
      await new Promise((r) => setTimeout(r, 500));
      worker.kill('SIGTERM');
      await waitForLog(worker, (l) => String(l.msg).startsWith('stopping'));
      worker.kill('SIGTERM');
      const res = await exited;
      expect(res.code, res.stderr).toBe(143);
    } finally {
      await app.query('ROLLBACK');
      await app.end();
    }
  });
});
