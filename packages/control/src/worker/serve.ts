// A worker process from start to exit: check both services (fail fast with a clear message), serve
// shards, and stop gracefully on SIGTERM/SIGINT (a second signal exits at once).
//
// The signal handlers go in before anything else: a SIGTERM while the worker is still connecting (a
// pod scaled down as it starts) must be an orderly exit 0, not Node's default death by the signal.
// Nothing is claimed before startWorker returns, so a signal during start-up just stops it there.
import { ExitCode } from '@backfill/engine/cli';
import { connectClient } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';
import type { WorkerSettings } from '@backfill/shared/settings';
import { connectRedis } from '../queue/connection.js';
import { startWorker, type WorkerHandle } from './worker.js';

async function startUp(settings: WorkerSettings, logger: Logger): Promise<WorkerHandle> {
  // After this check the worker keeps retrying either service forever; at start, a typo should fail.
  const db = await connectClient(settings.databaseUrl);
  await db.end();
  if (settings.queueBackend === 'redis') (await connectRedis(settings.redisUrl)).disconnect();
  return startWorker(settings, logger);
}

export async function serveWorker(settings: WorkerSettings, logger: Logger): Promise<void> {
  let stopping: NodeJS.Signals | null = null;
  let handle: WorkerHandle | undefined;
  let signalled!: (sig: NodeJS.Signals) => void;
  const firstSignal = new Promise<NodeJS.Signals>((resolve) => {
    signalled = resolve;
  });
  const onSignal = (sig: NodeJS.Signals) => {
    // A second signal: stop now (shards return when their locks expire), with the signal's exit code.
    if (stopping) process.exit(sig === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated);
    stopping = sig;
    signalled(sig);
    if (handle) void handle.stop(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  logger.info({ worker: settings.workerId }, 'worker starting');

  const starting = startUp(settings, logger);
  const first = await Promise.race([starting, firstSignal]);
  if (typeof first === 'string') {
    logger.info({ worker: settings.workerId, signal: first }, 'worker stopped during start-up');
    // Start-up may still finish while the process exits: stop what it started, and ignore its faults.
    starting.then((h) => h.stop(first)).catch(() => {});
    return;
  }
  handle = first;
  await handle.done;
}
