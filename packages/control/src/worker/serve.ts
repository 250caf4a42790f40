// A worker process from start to exit: check both services (fail fast with a clear message), serve
// shards, and stop gracefully on SIGTERM/SIGINT (a second signal exits at once).
import { ExitCode } from '@backfill/engine/cli';
import { connectClient } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';
import type { WorkerSettings } from '@backfill/shared/settings';
import { connectRedis } from '../queue/connection.js';
import { startWorker } from './worker.js';

export async function serveWorker(settings: WorkerSettings, logger: Logger): Promise<void> {
  // After this check the worker keeps retrying either service forever; at start, a typo should fail.
  const db = await connectClient(settings.databaseUrl);
  await db.end();
  if (settings.queueBackend === 'redis') (await connectRedis(settings.redisUrl)).disconnect();

  const handle = await startWorker(settings, logger);
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    // A second signal: stop now (shards return when their locks expire), with the signal's exit code.
    if (stopping) process.exit(sig === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated);
    stopping = true;
    void handle.stop(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await handle.done;
}
