// The worker process: serves every active run (one BullMQ Worker per run queue), stateless, so
// replicas scale it. SIGTERM: in-flight batches finish, shards are released, the process exits
// within the shutdown timeout.
import { hostname } from 'node:os';
import { backfillPool } from '@backfill/engine/backfill';
import { withPoolClient } from '@backfill/engine/db';
import { HealthMonitor, RunGates } from '@backfill/engine/health';
import {
  countLiveWorkers,
  heartbeat,
  type RunRow,
  removeWorker,
  stealHalfOfLargestShard,
} from '@backfill/engine/ledger';
import type { Logger } from '@backfill/engine/logger';
import type { WorkerSettings } from '@backfill/shared/settings';
import { DelayedError, WaitingError, type Worker } from 'bullmq';
import { applyParallelism, enqueueShards, jobCounts, withRunQueue } from '../queue/enqueue.js';
import { runQueueName } from '../queue/names.js';
import { openTransport } from '../queue/transport.js';
import { WorkerActivity } from './activity.js';
import { listenForControl } from './control-listener.js';
import { DatabaseOutage } from './database-outage.js';
import { throttledErrorLog } from './error-log.js';
import { type LockWatch, watchLocks } from './lock-watch.js';
import { serveMetrics, WorkerMetrics } from './metrics.js';
import { processShardJob } from './process-shard.js';
import { RunBudgets } from './rate.js';
import { reconcileOnce } from './reconcile-loop.js';
import { RunCache } from './run-cache.js';
import { LastBatchSizes } from './shard-controls.js';
import { ShardSlots, spreadCap } from './slots.js';

/** Work stealing takes a shard's rest only when at least this many batches of it are left. */
const STEAL_MIN_BATCHES = 4;

export interface WorkerHandle {
  /** Resolves when the process has stopped (after `stop()` or a fatal error). */
  done: Promise<void>;
  stop(reason: string): Promise<void>;
  activeRuns(): number[];
}

export async function startWorker(s: WorkerSettings, logger: Logger): Promise<WorkerHandle> {
  const log = logger.child({ worker: s.workerId });
  const pool = backfillPool(s.databaseUrl, {
    // Per-statement limits come from each run's settings via SET on the batch connections; these
    // are the defaults for the ledger statements.
    statementTimeoutMs: 30_000,
    lockTimeoutMs: 2_000,
    // A reader and the writers per shard, plus the ledger, the health probes and the heartbeat.
    max: s.concurrency * (1 + s.writers) + 3,
    name: `backfill-worker`,
  });
  const transport = await openTransport(
    { backend: s.queueBackend, redisUrl: s.redisUrl, databaseUrl: s.databaseUrl, prefix: s.prefix },
    {
      long: true,
      label: `backfill-worker:${s.workerId}`,
      onError: (err) => log.warn({ err: err.message }, `${s.queueBackend} connection error`),
    },
  );
  const runs = new RunCache();
  const budgets = new RunBudgets(transport);
  // One health sample per table per second for the whole process, shared by every shard.
  const monitor = new HealthMonitor(pool);
  const gates = new Map<number, RunGates>();
  const gatesFor = (run: RunRow) => {
    let g = gates.get(run.id);
    if (!g) {
      g = new RunGates(monitor, { schema: run.tableSchema, name: run.tableName });
      gates.set(run.id, g);
    }
    return g;
  };
  const activity = new WorkerActivity();
  const slots = new ShardSlots(s.concurrency);
  const metrics = new WorkerMetrics(s.workerId);
  metrics.slotsInUse = () => slots.inUse();
  /** How each shard job ended, and the class of what it threw, as metrics. */
  const measured = async <T extends { outcome: string }>(run: string, fn: () => Promise<T>): Promise<T> => {
    metrics.inFlight.inc();
    try {
      const out = await fn();
      metrics.outcomes.inc({ run, outcome: out.outcome });
      return out;
    } catch (err) {
      const handedBack = err instanceof DelayedError || err instanceof WaitingError;
      metrics.outcomes.inc({ run, outcome: handedBack ? 'handed_back' : 'failed' });
      if (!handedBack) metrics.errors.inc({ run, class: (err as Error).constructor?.name ?? 'Error' });
      throw err;
    } finally {
      metrics.inFlight.dec();
    }
  };
  const metricsServer =
    s.metricsPort > 0
      ? serveMetrics(metrics, {
          host: s.metricsHost,
          port: s.metricsPort,
          ready: () => !shuttingDown && !outage.isDown(),
        })
      : null;
  metricsServer?.then(
    (srv) => log.info({ address: srv.address() }, 'metrics and health checks served'),
    (err) => log.error({ err: (err as Error).message, port: s.metricsPort }, 'cannot serve metrics'),
  );
  const startedAt = new Date();
  /** The runs served: a BullMQ Worker each, with its own Redis connection and lock watch. */
  const served = new Map<number, { worker: Worker; closeConnection: () => void; watch: LockWatch }>();
  const outage = new DatabaseOutage(pool, log, (down) => {
    for (const { worker } of served.values()) {
      if (down) void worker.pause(true).catch(() => {});
      else worker.resume();
    }
  });
  let shuttingDown = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const deps = {
    pool,
    transport,
    runs,
    budgets,
    workerId: s.workerId,
    writers: s.writers,
    reconnectBudgetMs: s.lockDurationMs,
    gatesFor,
    activity,
    lastBatchSizes: new LastBatchSizes(),
    metrics,
    isShuttingDown: () => shuttingDown,
    onDatabaseUnreachable: (err: Error) => outage.report(err),
    logger: log,
  };

  // The workers heard from lately (this one included), counted after each poll's heartbeat and used
  // from the next: each run's shards are spread over them (spreadCap). A standing fleet knows its size
  // before a run starts; a worker whose heartbeats stop drops out of the count.
  let liveWorkers = 1;
  const liveWindowSeconds = Math.max(5, (3 * s.pollIntervalMs) / 1000);
  /** A run's BullMQ concurrency here: this process's share of its slots, spread over the fleet. */
  const concurrencyFor = (run: RunRow, runsServed: number) =>
    Math.min(slots.shareFor(runsServed), spreadCap(run.settings.parallelism, liveWorkers));

  const serve = (run: RunRow) => {
    const runId = run.id;
    let watch: LockWatch | undefined;
    const { worker, close: closeConnection } = transport.worker(
      runQueueName(run),
      (job, token, signal) =>
        watch!.track(job, () =>
          slots.run(() => measured(run.name, () => processShardJob(job, token, deps, signal))),
        ),
      {
        concurrency: concurrencyFor(run, served.size + 1),
        lockDuration: s.lockDurationMs,
        stalledInterval: s.stalledIntervalMs,
        maxStalledCount: 3,
      },
      `backfill-worker:${s.workerId}:${runQueueName(run)}`,
    );
    watch = watchLocks(worker, s.lockDurationMs, log.child({ runId }));
    if (outage.isDown()) void worker.pause(true).catch(() => {});
    worker.on('error', throttledErrorLog(log, { runId }));
    worker.on('failed', (job, err) => log.debug({ runId, jobId: job?.id, err: err.message }, 'job failed'));
    served.set(runId, { worker, closeConnection, watch });
    log.info({ runId, queue: runQueueName(run) }, 'serving run');
  };

  /** Stops serving a run: its BullMQ Worker closes (jobs in flight finish), then its connection. */
  const unserve = (runId: number) => {
    const entry = served.get(runId);
    if (!entry) return;
    served.delete(runId);
    entry.watch.stop();
    log.info({ runId }, 'run no longer active: stop serving it');
    void entry.worker
      .close()
      .catch(() => {})
      .finally(() => entry.closeConnection());
  };

  const poll = async () => {
    try {
      const active = await runs.refresh(pool);
      for (const run of active) if (!served.has(run.id)) serve(run);
      for (const runId of [...served.keys()]) if (!active.some((r) => r.id === runId)) unserve(runId);
      for (const run of active) {
        const worker = served.get(run.id)?.worker;
        const want = concurrencyFor(run, served.size);
        if (worker && worker.concurrency !== want) worker.concurrency = want;
      }
      await applyParallelismChanges(active);
      budgets.prune(active);
      for (const runId of gates.keys()) if (!active.some((r) => r.id === runId)) gates.delete(runId);
      liveWorkers = await withPooled(pool, async (c) => {
        await heartbeat(c, s.workerId, startedAt, describeSelf());
        return countLiveWorkers(c, liveWindowSeconds);
      });
      if (s.steal) await stealIfIdle(active);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot read the ledger (will retry)');
    }
  };
  /**
   * A run's parallelism as its queue's limit, when this process first serves the run and after each
   * `set` (the control plane sets it too; this covers a `set` that could not reach the queue).
   */
  const appliedParallelism = new Map<number, number>();
  const applyParallelismChanges = async (active: RunRow[]) => {
    for (const runId of appliedParallelism.keys())
      if (!active.some((r) => r.id === runId)) appliedParallelism.delete(runId);
    for (const run of active) {
      const want = run.settings.parallelism;
      const had = appliedParallelism.get(run.id);
      if (had === want) continue;
      // On first sight too: cheap, and it restores a limit a flushed Redis lost before the reconcile does.
      await withRunQueue(deps, run, (q) => applyParallelism(q, want));
      appliedParallelism.set(run.id, want);
      if (had !== undefined) log.info({ runId: run.id, from: had, to: want }, 'parallelism changed');
    }
  };

  /**
   * The tail of a run: with a slot free, no job waiting in a run's queue and fewer shards running than
   * its parallelism, take half of the work left in its biggest running shard beyond what its owner
   * has already read (at least STEAL_MIN_BATCHES batches of it), one split per poll.
   */
  const stealIfIdle = async (active: RunRow[]) => {
    if (slots.inUse() >= slots.size || outage.isDown() || shuttingDown) return;
    for (const run of active) {
      if (run.status !== 'running' || !served.has(run.id)) continue;
      const counts = await withRunQueue(deps, run, (q) => jobCounts(q, 'waiting', 'prioritized', 'active'));
      if ((counts.waiting ?? 0) + (counts.prioritized ?? 0) > 0) continue;
      // At the limit, a stolen half would only wait for a shard to finish.
      const limit = run.settings.parallelism;
      if (limit > 0 && (counts.active ?? 0) >= limit) continue;
      const minIds = BigInt(STEAL_MIN_BATCHES * Math.max(run.settings.batchSize, run.settings.minBatchSize));
      // The owner's write in flight and its batch read ahead (its writers, like ours, plus one).
      const aheadBatches = s.writers + 1;
      const split = await withPooled(pool, (c) =>
        stealHalfOfLargestShard(c, run.id, { minIds, aheadBatches }),
      );
      if (!split) continue;
      await withRunQueue(deps, run, (q) => enqueueShards(q, run.id, [split.stolen], run.order, run.settings));
      log.info(
        {
          runId: run.id,
          from: split.from.shardNo,
          shard: split.stolen.shardNo,
          fromId: split.stolen.fromId.toString(),
          toId: split.stolen.toId.toString(),
        },
        'idle slot: took the second half of a running shard',
      );
      return;
    }
  };

  /** The heartbeat's account of this worker: shown by status and the dashboard. */
  const describeSelf = () => ({
    host: hostname(),
    pid: process.pid,
    concurrency: s.concurrency,
    writers: s.writers,
    runs: [...served.keys()],
    shards: activity.list(),
    databaseReachable: !outage.isDown(),
    shuttingDown,
  });

  // Polls every interval, and at once when the ledger says a run changed (LISTEN/NOTIFY); one poll
  // at a time, and one more after it if a change came in meanwhile.
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | null = null;
  let again = false;
  const pollNow = () => {
    if (polling) {
      again = true;
      return;
    }
    clearTimeout(timer);
    polling = poll().finally(() => {
      polling = null;
      if (shuttingDown) return;
      if (again) {
        again = false;
        pollNow();
      } else timer = setTimeout(pollNow, s.pollIntervalMs);
    });
  };
  pollNow();
  const listener = listenForControl(s.databaseUrl, pollNow, log);

  // The ledger and the queues, brought in line every stalled interval by one worker of the fleet.
  let reconcileTimer: NodeJS.Timeout | undefined;
  const reconcileLoop = async () => {
    if (!outage.isDown()) {
      await reconcileOnce(pool, transport, log).catch((err) =>
        log.warn({ err: (err as Error).message }, 'reconcile pass failed (will retry)'),
      );
    }
    if (!shuttingDown) reconcileTimer = setTimeout(reconcileLoop, s.stalledIntervalMs);
  };
  reconcileTimer = setTimeout(reconcileLoop, s.stalledIntervalMs);
  log.info({ concurrency: s.concurrency, writers: s.writers, prefix: s.prefix }, 'worker started');

  const stop = async (reason: string) => {
    if (shuttingDown) return done;
    shuttingDown = true;
    clearTimeout(timer);
    clearTimeout(reconcileTimer);
    await listener.stop();
    outage.stop();
    for (const { watch } of served.values()) watch.stop();
    log.info({ reason }, 'stopping: finishing batches in flight and releasing shards');
    const closing = Promise.all([...served.values()].map(({ worker }) => worker.close()));
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
      for (const { worker } of served.values()) void worker.close(true).catch(() => {});
    }
    await Promise.race([
      withPooled(pool, (c) => removeWorker(c, s.workerId)).catch(() => {}),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    // A forced close leaves hung statements' clients checked out, and pool.end() waits for them: give
    // it a moment, then go (the server rolls back their transactions: idle_in_transaction_session_timeout).
    await Promise.race([pool.end().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    for (const { closeConnection } of served.values()) closeConnection();
    await Promise.race([transport.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    await metricsServer?.then((srv) => new Promise((r) => srv.close(() => r(undefined)))).catch(() => {});
    log.info({ peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }, 'worker stopped');
    resolveDone();
    return done;
  };

  return { done, stop, activeRuns: () => [...served.keys()] };
}

const withPooled = withPoolClient;
