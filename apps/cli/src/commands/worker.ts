// `backfill worker`: an alias of the worker app (apps/worker), for one-binary installs. Same flags,
// same defaults, same runtime (@backfill/control/worker).
import { parseWorkerFlags, WORKER_FLAGS, workerSettings } from '@backfill/control/flags';
import type { Command } from 'commander';
import { createContext } from '../context.js';

// Loaded on use: commands that do not need it start faster and lighter.
const workerRuntime = () => import('@backfill/control/worker');

export function registerWorker(program: Command): void {
  const cmd = program
    .command('worker')
    .description(
      'Process shards from the queue (every active run) until stopped; the same as the worker app ' +
        '(backfill-worker). Stateless: run as many as the database takes (docker compose up --scale worker=N, ' +
        'or N replicas). SIGTERM/SIGINT: finish the batch in flight, checkpoint, hand the shard back, exit 0 ' +
        'within --shutdown-timeout.',
    );
  for (const f of WORKER_FLAGS) cmd.option(f.flags, f.description, f.defaultValue);
  cmd.action(async (raw) => {
    const { serveWorker } = await workerRuntime();
    const tuning = parseWorkerFlags(raw);
    const { env, logger } = createContext();
    await serveWorker(workerSettings(tuning, env), logger);
  });
}
