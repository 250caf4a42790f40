// Typed errors. `kind` says what went wrong in terms every front understands (the CLI maps kinds to
// exit codes, the HTTP API to statuses); `retryable` is what a worker uses to decide between another
// attempt and failing the shard at once.

export const ERROR_KINDS = [
  /** Bad flag, variable, input file or request: nothing was written. */
  'usage',
  /** The named run or shard does not exist. */
  'not_found',
  /** The thing exists, but its state does not allow the action (pause a finished run, …). */
  'conflict',
  /** A check the operator asked for did not pass, or the work itself failed. */
  'check_failed',
  /** PostgreSQL or Redis cannot be reached. */
  'unavailable',
  /** A lock or statement timed out: the database is busy; trying later may work. */
  'busy',
  /** A row's content cannot be processed (see event-id SPEC.md). */
  'bad_data',
  /** The table does not look like run_logs (missing column, wrong type). */
  'schema',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export class BackfillError extends Error {
  readonly kind: ErrorKind = 'check_failed';
  readonly retryable: boolean = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flag, bad environment variable, bad input file: nothing was written. */
export class UsageError extends BackfillError {
  override readonly kind = 'usage';
}

/** An unknown run or shard. */
export class NotFoundError extends BackfillError {
  override readonly kind = 'not_found';
}

/** The run's (or shard's) state does not allow the action; nothing changed. */
export class ConflictError extends BackfillError {
  override readonly kind = 'conflict';
}

/** A check the operator asked for did not pass (verify found mismatches, …). */
export class CheckFailedError extends BackfillError {}

/** PostgreSQL or Redis cannot be reached. Retryable for workers. */
export class UnavailableError extends BackfillError {
  override readonly kind = 'unavailable';
  override readonly retryable = true;
}

/** The table does not look like run_logs (missing column, wrong type). Permanent. */
export class SchemaError extends BackfillError {
  override readonly kind = 'schema';
}

/** A lock could not be taken within lock_timeout on any of the allowed tries. */
export class LockTimeoutError extends BackfillError {
  override readonly kind = 'busy';
  override readonly retryable = true;
}

/** A row whose event id cannot be computed (see event-id SPEC.md). Permanent. */
export class BadRowError extends BackfillError {
  override readonly kind = 'bad_data';
  constructor(
    readonly rowId: string,
    readonly reason: string,
  ) {
    super(`row id ${rowId}: ${reason}`);
  }
}

/**
 * Another worker claimed the shard since this one did (it stalled past its lock: a GC pause, SIGSTOP, a
 * slow network): this worker's writes to it are refused, and it must stop working on it at once.
 */
export class ShardTakenOverError extends BackfillError {
  override readonly kind = 'conflict';
  constructor(runId: number, shardNo: number, epoch: number | undefined) {
    super(
      `shard ${shardNo} of run ${runId} was claimed again by another worker (this claim: epoch ${epoch ?? '?'})`,
    );
  }
}

/**
 * The run already has as many shards running as its parallelism allows: this one waits its turn (in
 * the worker's slot for a while, then back in the queue; either way using no attempt).
 */
export class AtParallelismError extends BackfillError {
  override readonly kind = 'conflict';
  constructor(runId: number, parallelism: number) {
    super(`run ${runId} already has ${parallelism} shard(s) running, its parallelism`);
  }
}

// Where work stopped by an error can resume: the last id whose batch committed. Noted by the batch
// engine on whatever it throws, read by the fronts to print the exact resume command.
const resumePoints = new WeakMap<object, bigint>();

/** Notes on `err` that everything up to id `lastDone` is done (the first note wins). */
export function noteResumePoint(err: unknown, lastDone: bigint): void {
  if (err && typeof err === 'object' && !resumePoints.has(err)) resumePoints.set(err, lastDone);
}

/** The last id done before `err` stopped the work, when the batch engine noted one. */
export function resumePointOf(err: unknown): bigint | undefined {
  return err && typeof err === 'object' ? resumePoints.get(err) : undefined;
}

/** SQLSTATE codes we treat specially. */
export const PgCode = {
  lockNotAvailable: '55P03',
  queryCanceled: '57014', // statement_timeout (or a cancel request)
  invalidCatalogName: '3D000',
  adminShutdown: '57P01', // pg_terminate_backend
  undefinedTable: '42P01',
  undefinedColumn: '42703',
  undefinedFunction: '42883',
  /** backfill_apply_batch: rows changed since the batch's read (nothing kept). */
  batchRowsChanged: 'BFS01',
  /** backfill_apply_batch: the checkpoint's epoch fence refused the batch (nothing kept). */
  shardTakenOver: 'BFT01',
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
