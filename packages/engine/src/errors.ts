// Typed errors. `exitCode` is what the CLI exits with; `retryable` is what a worker uses to decide
// between another attempt and failing the shard at once.

export const ExitCode = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  unavailable: 3,
  interrupted: 130,
  terminated: 143,
} as const;

export class BackfillError extends Error {
  readonly exitCode: number = ExitCode.checkFailed;
  readonly retryable: boolean = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flag, bad environment variable, bad input file: nothing was written. Exit 2. */
export class UsageError extends BackfillError {
  override readonly exitCode = ExitCode.usage;
}

/** A check the operator asked for did not pass (verify found mismatches, …). Exit 1. */
export class CheckFailedError extends BackfillError {}

/** PostgreSQL or Redis cannot be reached. Exit 3; retryable for workers. */
export class UnavailableError extends BackfillError {
  override readonly exitCode = ExitCode.unavailable;
  override readonly retryable = true;
}

/** The table does not look like run_logs (missing column, wrong type). Permanent. */
export class SchemaError extends BackfillError {}

/** A lock could not be taken within lock_timeout on any of the allowed tries. */
export class LockTimeoutError extends BackfillError {
  override readonly retryable = true;
}

/** A row whose event id cannot be computed (see event-id SPEC.md). Permanent. */
export class BadRowError extends BackfillError {
  constructor(
    readonly rowId: string,
    readonly reason: string,
  ) {
    super(`row id ${rowId}: ${reason}`);
  }
}

/** SQLSTATE codes we treat specially. */
export const PgCode = {
  lockNotAvailable: '55P03',
  queryCanceled: '57014', // statement_timeout (or a cancel request)
  invalidCatalogName: '3D000',
  adminShutdown: '57P01', // pg_terminate_backend
  undefinedTable: '42P01',
  undefinedColumn: '42703',
} as const;

/** Finds a SQLSTATE in an error or its `cause` chain (drizzle wraps pg errors). */
export function pgCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isConnectionFailure(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH)$/.test(code)
    ) {
      return true;
    }
    if (e instanceof AggregateError) return e.errors.some(isConnectionFailure);
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
