// Errors of the control plane as HTTP: the kind decides the status (one table, like the CLI's exit
// codes), the body says what and, for bad input, which field. Nothing changed on any of them.
import type { ErrorKind } from '@backfill/engine/errors';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  usage: 400,
  not_found: 404,
  conflict: 409,
  check_failed: 422,
  unavailable: 503,
  busy: 503,
  bad_data: 422,
  schema: 422,
};

export interface ApiError {
  error: { kind: string; message: string; field?: string };
}

/** "setting maxRowsPerSecond: must be at most …" / "--batch-size: …" → the field named first. */
const FIELD = /^(?:setting |--)?([A-Za-z][\w.-]*): /;

export function errorHandler(
  err: FastifyError & { kind?: ErrorKind },
  req: FastifyRequest,
  reply: FastifyReply,
) {
  if (err.kind && err.kind in STATUS_OF_KIND) {
    const field = err.kind === 'usage' ? FIELD.exec(err.message)?.[1] : undefined;
    return reply.code(STATUS_OF_KIND[err.kind]).send({
      error: { kind: err.kind, message: err.message, ...(field && { field }) },
    } satisfies ApiError);
  }
  if (err.validation) {
    const first = err.validation[0];
    const field =
      first?.instancePath?.replace(/^\//, '').replace(/\//g, '.') ||
      (first?.params as { missingProperty?: string })?.missingProperty;
    return reply.code(400).send({ error: { kind: 'usage', message: err.message, ...(field && { field }) } });
  }
  if (err.statusCode && err.statusCode < 500) {
    return reply.code(err.statusCode).send({ error: { kind: 'usage', message: err.message } });
  }
  req.log.error({ err: err.message }, 'request failed');
  return reply.code(500).send({ error: { kind: 'internal', message: err.message } });
}
