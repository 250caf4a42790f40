import { hostname } from 'node:os';
import { connectClient } from '@backfill/engine';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { duration, int, parseOptions } from '../options.js';

// Loaded on use: commands that do not need it start faster and lighter.
const workerApp = () => import('@backfill/worker');

// Loaded on use: commands that do not need it start faster and lighter.
const producer = () => import('@backfill/producer');

const WorkerOptions = z.object({
  concurrency: int(1, 64),
  writers: int(1, 8),
  shutdownTimeout: duration.pipe(z.number().min(1, { message: 'must be more than 0' })),
  lockDuration: duration.pipe(z.number().min(1000, { message: 'must be at least 1s' })),
  stalledInterval: duration.pipe(z.number().min(1000, { message: 'must be at least 1s' })),
  pollInterval: duration.pipe(z.number().min(100, { message: 'must be at least 100ms' })),
});

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'Process shards from the queue (every active run) until stopped. Stateless: run as many as the database ' +
        'takes (docker compose up --scale worker=N, or N replicas). SIGTERM/SIGINT: finish the batch in flight, ' +
        'checkpoint, hand the shard back, exit 0 within --shutdown-timeout.',
    )
    // Two shards of one writer each keep as many UPDATEs in flight as one shard of two writers, but
    // one shard's start and finish (an empty pipeline) overlap the other's work: ~8% more rows/s.
    .option('--concurrency <n>', 'shards at once in this process (1 + writers connections each)', '2')
    .option(
      '--writers <n>',
      'UPDATEs in flight per shard, each on its own connection (batches still commit in order)',
      '1',
    )
    .option('--shutdown-timeout <duration>', 'wait this long for in-flight batches on SIGTERM', '30s')
    .option(
      '--lock-duration <duration>',
      "a killed worker's shard returns to the queue after about this long",
      '30s',
    )
    .option('--stalled-interval <duration>', 'how often lock-expired shards are looked for', '30s')
    .option('--poll-interval <duration>', 'how often the ledger is read for new runs and pauses', '1s')
    .action(async (raw) => {
      const o = parseOptions(WorkerOptions, raw);
      const { env, logger } = createContext();
      // Fail fast with a clear message when a service is unreachable at start; after that, keep retrying.
      await checkServices(env.DATABASE_URL, env.REDIS_URL);
      const handle = (await workerApp()).startWorker(
        {
          databaseUrl: env.DATABASE_URL,
          redisUrl: env.REDIS_URL,
          prefix: env.QUEUE_PREFIX,
          concurrency: o.concurrency,
          writers: o.writers,
          shutdownTimeoutMs: o.shutdownTimeout,
          lockDurationMs: o.lockDuration,
          stalledIntervalMs: o.stalledInterval,
          pollIntervalMs: o.pollInterval,
          workerId: `${hostname()}:${process.pid}`,
        },
        logger,
      );
      let stopping = false;
      const onSignal = (sig: NodeJS.Signals) => {
        if (stopping) process.exit(1); // a second signal: stop now (shards return when locks expire)
        stopping = true;
        void handle.stop(sig);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await handle.done;
    });
}

async function checkServices(databaseUrl: string, redisUrl: string): Promise<void> {
  const db = await connectClient(databaseUrl);
  await db.end();
  const redis = await (await producer()).connectRedis(redisUrl);
  redis.disconnect();
}
