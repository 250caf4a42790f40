// Which database faults a batch may retry, and how.
import { isConnectionFailure, PgCode, pgCodeOf } from '../errors.js';

/** lock_timeout or statement_timeout: retry with a smaller batch after a backoff. */
export function isTimeout(err: unknown): boolean {
  const code = pgCodeOf(err);
  return code === PgCode.lockNotAvailable || code === PgCode.queryCanceled;
}

/** Deadlock or serialization failure: retry the same batch. */
export function isTransient(err: unknown): boolean {
  const code = pgCodeOf(err);
  return code === '40P01' || code === '40001';
}

/** The connection is gone (server restart, pg_terminate_backend, network): reconnect and resume. */
export function isConnectionLost(err: unknown): boolean {
  const code = pgCodeOf(err);
  if (code === PgCode.adminShutdown || code === '57P02' || code === '57P03' || code?.startsWith('08'))
    return true;
  if (isConnectionFailure(err)) return true;
  const msg = (err as Error)?.message ?? '';
  // "Query read timeout": the client-side query_timeout (the network went silent); the session is
  // given up like a dropped one.
  return /Connection terminated|Client has encountered a connection error|not queryable|Query read timeout|timeout exceeded when trying to connect/i.test(
    msg,
  );
}

/**
 * The table is not what the batch statements expect (a column dropped, renamed or retyped after the
 * run started): retrying cannot help, the shard fails at once.
 */
export function isSchemaFault(err: unknown): boolean {
  const code = pgCodeOf(err);
  return (
    code === PgCode.undefinedColumn ||
    code === PgCode.undefinedTable ||
    code === '42804' || // datatype_mismatch
    code === '42883' || // undefined_function (an operator for the column's new type)
    code === '42P18' // indeterminate_datatype
  );
}
