// The worker deployable: flags and environment parsed once at the edge, then the shard worker runtime
// until SIGTERM. Stateless: scale it with replicas.
import { parseWorkerFlags, WORKER_FLAGS, workerSettings } from '@backfill/control/flags';
import { type DeployableSpec, runDeployable } from '@backfill/engine/cli';
import { parseEnv, QUEUE_BACKEND_FLAG, withQueueBackendFlag } from '@backfill/engine/config';
import { createLogger } from '@backfill/engine/logger';

const WORKER_PROGRAM: DeployableSpec = {
  name: 'backfill-worker',
  description:
    'Process shards from the queue (every active run) until stopped. Stateless: run as many replicas as the ' +
    'database takes. SIGTERM/SIGINT: finish the batch in flight, checkpoint, hand the shard back, exit 0 ' +
    'within --shutdown-timeout; a second signal exits at once.',
  flags: [...WORKER_FLAGS, QUEUE_BACKEND_FLAG],
  helpAfter: `
Environment:
  DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/backfill)
  REDIS_URL     Redis URL (default redis://127.0.0.1:6379)
  QUEUE_PREFIX  BullMQ key prefix (default backfill)
  QUEUE_BACKEND redis (default) or postgres: queues in PostgreSQL, no Redis at all
  LOG_LEVEL     fatal|error|warn|info|debug|trace|silent (default info); logs are JSON on stderr

Exit codes: 0 stopped by a signal after a clean shutdown · 1 a fault · 2 bad flag or variable
            3 PostgreSQL/Redis unreachable at start · 130/143 a second SIGINT/SIGTERM (stopped at once;
            its shards return to the queue when their locks expire)`,
};

await runDeployable(WORKER_PROGRAM, process.argv, async (opts) => {
  const tuning = parseWorkerFlags(opts);
  const env = withQueueBackendFlag(parseEnv(), opts.queueBackend as string | undefined);
  const logger = createLogger({ level: env.LOG_LEVEL, service: 'backfill-worker' });
  // Loaded after parsing: `--help` and a bad flag need no BullMQ.
  const { serveWorker } = await import('@backfill/control/worker');
  await serveWorker(workerSettings(tuning, env), logger);
});
