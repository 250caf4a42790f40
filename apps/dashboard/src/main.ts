// The dashboard deployable: flags and environment parsed once at the edge, then the operator plane
// until SIGTERM. Reads are open; actions need DASHBOARD_TOKEN.
import { describeFailure, ExitCode } from '@backfill/engine/cli';
import { parseEnv, QUEUE_BACKEND_FLAG, withQueueBackendFlag } from '@backfill/engine/config';
import { createLogger } from '@backfill/engine/logger';
import { DASHBOARD_FLAGS, dashboardSettings } from '@backfill/operator/flags';
import { Command, CommanderError } from 'commander';

function buildProgram(): Command {
  const program = new Command('backfill-dashboard')
    .description(
      'The operator plane: JSON control API under /api, a live web page at /, BullMQ jobs (read-only) at /queues, ' +
        'fleet metrics at /metrics. Binds 127.0.0.1 by default. Actions need DASHBOARD_TOKEN (bearer, or log in on the page).',
    )
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  for (const f of DASHBOARD_FLAGS) program.option(f.flags, f.description, f.defaultValue);
  program.option(QUEUE_BACKEND_FLAG.flags, QUEUE_BACKEND_FLAG.description);
  program.addHelpText(
    'after',
    `
Environment:
  DATABASE_URL     PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/backfill)
  REDIS_URL        Redis URL (default redis://127.0.0.1:6379)
  QUEUE_PREFIX     BullMQ key prefix (default backfill)
  QUEUE_BACKEND    redis (default) or postgres: queues in PostgreSQL, no Redis at all
  DASHBOARD_TOKEN  allows actions (at least 16 characters); unset: read-only
  LOG_LEVEL        fatal|error|warn|info|debug|trace|silent (default info)

Exit codes: 0 stopped by a signal · 2 bad flag or variable · 3 PostgreSQL/Redis unreachable at start`,
  );
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    program.parse(argv);
    const env = withQueueBackendFlag(parseEnv(), program.opts().queueBackend);
    const settings = dashboardSettings(program.opts(), {
      ...env,
      DASHBOARD_TOKEN: process.env.DASHBOARD_TOKEN,
    });
    // Loaded after parsing: `--help` and a bad flag need no HTTP server.
    const { serveDashboard } = await import('@backfill/operator');
    await serveDashboard(settings, createLogger({ level: env.LOG_LEVEL, service: 'backfill-dashboard' }));
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    const failure = describeFailure(err);
    process.stderr.write(`backfill-dashboard: ${failure.message}\n`);
    return failure.exitCode;
  }
}

const code = await main(process.argv);
process.exitCode = code;
setImmediate(() => process.exit(code)).unref();
