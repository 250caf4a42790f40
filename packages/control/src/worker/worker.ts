// The worker process: serves every active run (one BullMQ Worker per run queue), stateless, so
// replicas scale it. SIGTERM: in-flight batches finish, shards are released, the process exits
// within the shutdown timeout.
import { backfillPool } from '@backfill/engine/backfill';
import type { RunRow } from '@backfill/engine/ledger';
import type { Logger } from '@backfill/engine/logger';
import type { WorkerSettings } from '@backfill/shared/settings';
import { Worker } from 'bullmq';
import { workerRedis } from '../queue/connection.js';
import { runQueueName } from '../queue/names.js';
import { DatabaseOutage } from './database-outage.js';
import { type LockWatch, watchLocks } from './lock-watch.js';
import { processShardJob } from './process-shard.js';
import { RunBudgets } from './rate.js';
import { RunCache } from './run-cache.js';

export interface WorkerHandle {
  /** Resolves when the process has stopped (after `stop()` or a fatal error). */
  done: Promise<void>;
  stop(reason: string): Promise<void>;
  activeRuns(): number[];
}

export function startWorker(s: WorkerSettings, logger: Logger): WorkerHandle {
  const log = logger.child({ worker: s.workerId });
  const pool = backfillPool(s.databaseUrl, {
    // Per-statement limits come from each run's settings via SET on the batch connections; these
    // are the defaults for the ledger statements.
    statementTimeoutMs: 30_000,
    lockTimeoutMs: 2_000,
    max: s.concurrency * (1 + s.writers) + 2, // a reader and the writers per shard, plus the ledger
    name: `backfill-worker`,
  });
  const redis = workerRedis(s.redisUrl, (err) => log.warn({ err: err.message }, 'redis connection error'));
  const runs = new RunCache();
  const budgets = new RunBudgets(redis, s.prefix);
  const workers = new Map<number, Worker>();
  const lockWatches = new Map<number, LockWatch>();
  const outage = new DatabaseOutage(pool, log, (down) => {
    for (const w of workers.values()) {
      if (down) void w.pause(true).catch(() => {});
      else w.resume();
    }
  });
  let shuttingDown = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const deps = {
    pool,
    redis,
    prefix: s.prefix,
    runs,
    budgets,
    workerId: s.workerId,
    writers: s.writers,
    reconnectBudgetMs: s.lockDurationMs,
    isShuttingDown: () => shuttingDown,
    onDatabaseUnreachable: (err: Error) => outage.report(err),
    logger: log,
  };

  const serve = (run: RunRow) => {
    const runId = run.id;
    let watch: LockWatch | undefined;
    const w = new Worker(
      runQueueName(run),
      (job, token, signal) => watch!.track(job, () => processShardJob(job, token, deps, signal)),
      {
        connection: workerRedis(s.redisUrl, (err) =>
          log.warn({ err: err.message }, 'redis connection error'),
        ),
        prefix: s.prefix,
        concurrency: s.concurrency,
        lockDuration: s.lockDurationMs,
        stalledInterval: s.stalledIntervalMs,
        maxStalledCount: 3,
      },
    );
    watch = watchLocks(w, s.lockDurationMs, log.child({ runId }));
    lockWatches.set(runId, watch);
    if (outage.isDown()) void w.pause(true).catch(() => {});
    w.on('error', (err) => log.warn({ runId, err: err.message }, 'worker error'));
    w.on('failed', (job, err) => log.debug({ runId, jobId: job?.id, err: err.message }, 'job failed'));
    workers.set(runId, w);
    log.info({ runId, queue: runQueueName(run) }, 'serving run');
  };

  const poll = async () => {
    try {
      const active = await runs.refresh(pool);
      for (const run of active) if (!workers.has(run.id)) serve(run);
      for (const [runId, w] of workers) {
        if (!active.some((r) => r.id === runId)) {
          workers.delete(runId);
          lockWatches.get(runId)?.stop();
          lockWatches.delete(runId);
          log.info({ runId }, 'run no longer active: stop serving it');
          void w.close();
        }
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot read the ledger (will retry)');
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    await poll();
    if (!shuttingDown) timer = setTimeout(loop, s.pollIntervalMs);
  };
  void loop();
  log.info({ concurrency: s.concurrency, writers: s.writers, prefix: s.prefix }, 'worker started');

  const stop = async (reason: string) => {
    if (shuttingDown) return done;
    shuttingDown = true;
    clearTimeout(timer);
    outage.stop();
    for (const watch of lockWatches.values()) watch.stop();
    log.info({ reason }, 'stopping: finishing batches in flight and releasing shards');
    const closing = Promise.all([...workers.values()].map((w) => w.close()));
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), s.shutdownTimeoutMs).unref()),
    ]);
    if (timedOut) {
      log.warn(
        { timeoutMs: s.shutdownTimeoutMs },
        'shutdown timeout: forcing the close (the shards return to the queue when their locks expire)',
      );
      // Not awaited: once a graceful close has begun, BullMQ's close(true) returns that same promise, which
      // waits for the hung job. The shards go back to the queue when their locks expire.
      for (const w of workers.values()) void w.close(true).catch(() => {});
    }
    // A forced close leaves hung statements' clients checked out, and pool.end() waits for them: give
    // it a moment, then go (the server rolls back their transactions: idle_in_transaction_session_timeout).
    await Promise.race([pool.end().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    redis.disconnect();
    log.info({ peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }, 'worker stopped');
    resolveDone();
    return done;
  };

  return { done, stop, activeRuns: () => [...workers.keys()] };
}
