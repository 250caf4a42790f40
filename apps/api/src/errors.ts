// Errors as HTTP answers, in one table: what a request did wrong (400 with the field named), error kinds
// from the layers below (the same kinds the CLI maps to exit codes), PostgreSQL faults, and Fastify's own
// (413, 415). Every error body is { error, message, field? }.
import {
  BackfillError,
  type ErrorKind,
  isConnectionFailure,
  PgCode,
  pgCodeOf,
} from '@backfill/engine/errors';
import { EventIdError } from '@backfill/shared/event-id';
import { z } from 'zod';

/** A request the API refuses (nothing was written): which field, and why. */
export class RequestError extends Error {
  readonly statusCode: number;
  readonly field: string | undefined;
  readonly code: string;
  constructor(statusCode: number, code: string, message: string, field?: string) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'RequestError';
    this.statusCode = statusCode;
    this.code = code;
    this.field = field;
  }
}

/** A field of the request is wrong: 400. `field` is a path such as `events[2].data.n` or `runId`. */
export const badRequest = (field: string, reason: string) =>
  new RequestError(400, 'bad_request', reason, field);

/** An event-id error of the row at `prefix` (`events[2]`, or '' for a single event), as a 400. */
export function rowError(err: EventIdError, prefix: string): RequestError {
  return badRequest(prefix ? `${prefix}.${err.field}` : err.field, err.reason);
}

export const HTTP_STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  usage: 400,
  not_found: 404,
  conflict: 409,
  check_failed: 500,
  unavailable: 503,
  busy: 503,
  bad_data: 400,
  schema: 500,
};

export const ErrorBody = z.object({
  error: z.string(),
  message: z.string(),
  field: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export interface HttpFailure {
  statusCode: number;
  body: ErrorBody;
  /** 5xx: worth an error log line. */
  serverFault: boolean;
}

const FASTIFY_CODES: Record<string, { status: number; error: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: 'unsupported_media_type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'bad_request' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, error: 'bad_request' },
};

/** What to answer for an error that reached the error handler. */
export function httpFailure(err: unknown, bodyLimit: number): HttpFailure {
  if (err instanceof RequestError) {
    const body: ErrorBody = { error: err.code, message: err.message };
    if (err.field) body.field = err.field;
    return { statusCode: err.statusCode, body, serverFault: err.statusCode >= 500 };
  }
  if (err instanceof EventIdError) return httpFailure(rowError(err, ''), bodyLimit);
  if (err instanceof BackfillError) {
    const statusCode = HTTP_STATUS_OF_KIND[err.kind];
    return { statusCode, body: { error: err.kind, message: err.message }, serverFault: statusCode >= 500 };
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code in FASTIFY_CODES) {
    const { status, error } = FASTIFY_CODES[code]!;
    const message =
      code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `the request body is larger than ${bodyLimit} bytes (--body-limit)`
        : (err as Error).message;
    return { statusCode: status, body: { error, message }, serverFault: false };
  }
  const pg = pgCodeOf(err);
  if (isConnectionFailure(err) || pg?.startsWith('08') || pg === '57P01' || pg === '57P03') {
    return {
      statusCode: 503,
      body: {
        error: 'unavailable',
        message:
          'lost the connection to PostgreSQL: a write may have been committed (a batch is all or nothing); ' +
          'a retry writes the same events with the same event_ids, so a duplicate can be told apart',
      },
      serverFault: true,
    };
  }
  if (pg === PgCode.queryCanceled || pg === PgCode.lockNotAvailable || pg === '40001' || pg === '40P01') {
    return {
      statusCode: 503,
      body: { error: 'busy', message: `PostgreSQL is busy (${(err as Error).message}); try again` },
      serverFault: true,
    };
  }
  if (pg?.startsWith('22')) {
    // A value PostgreSQL refused that validation let through: the request's fault, but worth a look.
    return {
      statusCode: 400,
      body: { error: 'bad_request', message: `PostgreSQL refused a value: ${(err as Error).message}` },
      serverFault: true,
    };
  }
  const status = (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return {
      statusCode: status,
      body: { error: 'bad_request', message: (err as Error).message },
      serverFault: false,
    };
  }
  return {
    statusCode: 500,
    body: { error: 'internal', message: 'internal error (logged)' },
    serverFault: true,
  };
}
