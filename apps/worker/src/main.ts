// The worker deployable: flags and environment parsed once at the edge, then the shard worker runtime
// until SIGTERM. Stateless: scale it with replicas.
import { parseWorkerFlags, WORKER_FLAGS, workerSettings } from '@backfill/control/flags';
import { describeFailure, ExitCode } from '@backfill/engine/cli';
import { parseEnv, QUEUE_BACKEND_FLAG, withQueueBackendFlag } from '@backfill/engine/config';
import { createLogger } from '@backfill/engine/logger';
import { Command, CommanderError } from 'commander';

function buildProgram(): Command {
  const program = new Command('backfill-worker')
    .description(
      'Process shards from the queue (every active run) until stopped. Stateless: run as many replicas as the ' +
        'database takes. SIGTERM/SIGINT: finish the batch in flight, checkpoint, hand the shard back, exit 0 ' +
        'within --shutdown-timeout; a second signal exits at once.',
    )
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  for (const f of WORKER_FLAGS) program.option(f.flags, f.description, f.defaultValue);
  program.option(QUEUE_BACKEND_FLAG.flags, QUEUE_BACKEND_FLAG.description);
  program.addHelpText(
    'after',
    `
Environment:
  DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/backfill)
  REDIS_URL     Redis URL (default redis://127.0.0.1:6379)
  QUEUE_PREFIX  BullMQ key prefix (default backfill)
  QUEUE_BACKEND redis (default) or postgres: queues in PostgreSQL, no Redis at all
  LOG_LEVEL     fatal|error|warn|info|debug|trace|silent (default info); logs are JSON on stderr

Exit codes: 0 stopped by a signal after a clean shutdown · 1 a fault · 2 bad flag or variable
            3 PostgreSQL/Redis unreachable at start · 130/143 a second SIGINT/SIGTERM (stopped at once;
            its shards return to the queue when their locks expire)`,
  );
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    program.parse(argv);
    const tuning = parseWorkerFlags(program.opts());
    const env = withQueueBackendFlag(parseEnv(), program.opts().queueBackend);
    const logger = createLogger({ level: env.LOG_LEVEL, service: 'backfill-worker' });
    // Loaded after parsing: `--help` and a bad flag need no BullMQ.
    const { serveWorker } = await import('@backfill/control/worker');
    await serveWorker(workerSettings(tuning, env), logger);
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    const failure = describeFailure(err);
    process.stderr.write(`backfill-worker: ${failure.message}\n`);
    return failure.exitCode;
  }
}

const code = await main(process.argv);
process.exitCode = code;
setImmediate(() => process.exit(code)).unref();
