// The command line every deployable shares (the worker, the dashboard, the API): one command with its
// flags, the environment and exit codes after the options in --help, a bad flag as exit 2 with a hint,
// and any failure mapped through the exit-code table and printed on one line as `<name>: <message>`.
import { Command, CommanderError } from 'commander';
import { describeFailure, ExitCode } from './exit-codes.js';

/** One flag as commander registers it. */
export interface FlagSpec {
  /** commander's flag syntax, e.g. "--concurrency <n>". */
  flags: string;
  description: string;
  /** The default as the user would type it (what `--help` shows); none: the flag has no default. */
  defaultValue?: string;
}

export interface DeployableSpec {
  /** The program's name, as in its bin (`backfill-worker`). */
  name: string;
  description: string;
  flags: readonly FlagSpec[];
  /** Shown by --help after the options: the environment variables and the exit codes. */
  helpAfter: string;
}

/** The program's commander Command (flags registered, help text set, exits turned into errors). */
export function deployableProgram(spec: DeployableSpec): Command {
  const program = new Command(spec.name)
    .description(spec.description)
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  for (const f of spec.flags) program.option(f.flags, f.description, f.defaultValue);
  program.addHelpText('after', spec.helpAfter);
  return program;
}

/**
 * Parses `argv`, then runs `serve` with the parsed options until it returns (a clean stop: exit 0) or
 * throws (the exit code the failure's kind has). The process then exits, whatever handles are still open:
 * a deployable that has stopped must not linger on a socket it forgot.
 */
export async function runDeployable(
  spec: DeployableSpec,
  argv: string[],
  serve: (opts: Record<string, unknown>) => Promise<void>,
): Promise<void> {
  const program = deployableProgram(spec);
  let code: number = ExitCode.ok;
  try {
    program.parse(argv);
    await serve(program.opts());
  } catch (err) {
    if (err instanceof CommanderError) code = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    else {
      const failure = describeFailure(err);
      process.stderr.write(`${spec.name}: ${failure.message}\n`);
      code = failure.exitCode;
    }
  }
  process.exitCode = code;
  setImmediate(() => process.exit(code)).unref();
}
