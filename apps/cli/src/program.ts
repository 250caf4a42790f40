// The `backfill` command tree. Commands live in ./commands, one file each; this file only wires them.

import { describeFailure, ExitCode } from '@backfill/engine/cli';
import { QUEUE_BACKEND_FLAG } from '@backfill/engine/config';
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.js';
import { setGlobalFlags } from './context.js';

export function buildProgram(): Command {
  const program = new Command('backfill')
    .description(
      'Add a deterministic event_id to every row of run_logs, online: migrate, backfill, verify, monitor, roll back.',
    )
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .option(QUEUE_BACKEND_FLAG.flags, QUEUE_BACKEND_FLAG.description)
    .hook('preAction', (cmd) => {
      setGlobalFlags({ queueBackend: cmd.opts().queueBackend });
    });
  program.addHelpText(
    'after',
    `
Environment:
  DATABASE_URL   PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/backfill)
  REDIS_URL      Redis URL for the distributed mode (default redis://127.0.0.1:6379)
  QUEUE_BACKEND  redis (default) or postgres: queues in PostgreSQL, no Redis at all
  LOG_LEVEL      fatal|error|warn|info|debug|trace|silent (default info); logs are JSON on stderr

Exit codes: 0 ok · 1 a check failed or the work failed · 2 bad usage or input (nothing written)
            3 PostgreSQL/Redis unreachable · 130/143 interrupted by SIGINT/SIGTERM (resumable)`,
  );
  registerCommands(program);
  return program;
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? ExitCode.ok : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; every other commander error is bad usage.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const failure = describeFailure(err);
    process.stderr.write(`backfill: ${failure.message}\n`);
    return failure.exitCode;
  }
}
