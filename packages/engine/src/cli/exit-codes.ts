// What every command-line program (the CLI, the worker app) exits with, in one table: error kinds
// from every layer map to exit codes here and nowhere else. The README's exit-code table is this one.
import { BackfillError, type ErrorKind, isConnectionFailure, PgCode, pgCodeOf } from '../errors.js';

export const ExitCode = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  unavailable: 3,
  interrupted: 130,
  terminated: 143,
} as const;

export const EXIT_CODE_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  usage: ExitCode.usage,
  not_found: ExitCode.usage,
  conflict: ExitCode.checkFailed,
  check_failed: ExitCode.checkFailed,
  unavailable: ExitCode.unavailable,
  busy: ExitCode.checkFailed,
  bad_data: ExitCode.checkFailed,
  schema: ExitCode.checkFailed,
};

/** What a program prints and exits with for an error that reached its top level. */
export function describeFailure(err: unknown): { exitCode: number; message: string } {
  if (err instanceof BackfillError) return { exitCode: EXIT_CODE_OF_KIND[err.kind], message: err.message };
  // Safety net for faults that reached here without a typed wrapper.
  const code = pgCodeOf(err);
  if (code === PgCode.invalidCatalogName) {
    return {
      exitCode: ExitCode.usage,
      message: `${(err as Error).message}: check DATABASE_URL, or create it (\`backfill migrate --create-database\`)`,
    };
  }
  if (code?.startsWith('28') || code === '57P03' || code === '53300') {
    return {
      exitCode: ExitCode.unavailable,
      message: `PostgreSQL refused the connection: ${(err as Error).message}`,
    };
  }
  if (err instanceof URIError) {
    return {
      exitCode: ExitCode.usage,
      message: `a malformed URL (check DATABASE_URL / REDIS_URL): ${err.message}`,
    };
  }
  if (isConnectionFailure(err)) {
    return {
      exitCode: ExitCode.unavailable,
      message: `cannot reach a service (check DATABASE_URL / REDIS_URL): ${(err as Error).message}`,
    };
  }
  return {
    exitCode: ExitCode.checkFailed,
    message: `unexpected error: ${(err as Error)?.stack ?? String(err)}`,
  };
}
