// The API as a Fastify instance, without listening (tests use app.inject(); main.ts listens). One plugin
// per route group; every route has its schemas; every error is answered by one handler (errors.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { qualified, RUN_LOGS } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';
import Fastify, { type FastifyInstance, LogController, type RawServerDefault } from 'fastify';
import type pg from 'pg';
import { parseJsonBody } from './body/json-body.js';
import { type ApiSettings, DEFAULT_API_SETTINGS } from './config.js';
import { EventIdColumnWatch } from './db/event-id-column.js';
import { RunLogsNotifier } from './db/notify.js';
import { httpFailure } from './errors.js';
import { eventsRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { logsRoutes } from './routes/logs.js';
import { StreamHub } from './stream/hub.js';
import { zodValidatorCompiler } from './validation.js';
import { LogWriter } from './write-path.js';

/** Fastify's per-request log lines at debug (refusals and faults are logged by the error handler). */
class DebugRequestLogs extends LogController {
  override incomingRequest(request: Parameters<LogController['incomingRequest']>[0]): void {
    request.log.debug({ method: request.method, url: request.url }, 'incoming request');
  }
  override requestCompleted(
    _error: unknown,
    _request: unknown,
    reply: Parameters<LogController['requestCompleted']>[2],
  ): void {
    reply.log.debug({ status: reply.statusCode, ms: reply.elapsedTime }, 'request completed');
  }
}

/** The API's Fastify instance (its logger is the process's pino logger). */
export type ApiApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

export interface AppDeps {
  /** The API's connections (its owner ends it, after app.close()). */
  pool: pg.Pool;
  /** For the streams' LISTEN connection. */
  databaseUrl: string;
  logger: Logger;
  settings?: Partial<ApiSettings>;
}

/**
 * The API, ready to inject or listen. Looks for the event_id column first (throws SchemaError when
 * run_logs does not exist). app.close() ends the streams and stops the background work; not the pool.
 */
export async function buildApp(deps: AppDeps): Promise<ApiApp> {
  const settings: ApiSettings = { ...DEFAULT_API_SETTINGS, ...deps.settings };
  const { pool, logger } = deps;
  const column = new EventIdColumnWatch(pool, qualified(RUN_LOGS), logger, settings.schemaRecheckMs);
  await column.start();
  const writer = new LogWriter(pool, column, settings.eventIds);
  const notifier = new RunLogsNotifier(pool, logger);
  const hub = new StreamHub({
    pool,
    databaseUrl: deps.databaseUrl,
    logger,
    column,
    pollIntervalMs: settings.pollIntervalMs,
    heartbeatMs: settings.heartbeatMs,
    streamBufferBytes: settings.streamBufferBytes,
    streamStallMs: settings.streamStallMs,
  });

  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: settings.bodyLimit,
    logController: new DebugRequestLogs(),
    return503OnClosing: true,
  });
  app.setValidatorCompiler(zodValidatorCompiler);
  // JSON only, parsed by our parser (strict UTF-8, numbers checked): anything else is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.setErrorHandler((err, req, reply) => {
    const f = httpFailure(err, settings.bodyLimit);
    if (f.serverFault) req.log.error({ err, method: req.method, url: req.url }, f.body.message);
    else
      req.log.debug({ method: req.method, url: req.url, status: f.statusCode, ...f.body }, 'request refused');
    return reply.code(f.statusCode).send(f.body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  await app.register(logsRoutes, { pool, column, writer, notifier, hub, settings });
  await app.register(eventsRoutes, { pool, column, hub, settings, logger });
  await app.register(healthRoutes, { pool, column, writer, hub });

  app.addHook('preClose', async () => {
    await hub.close();
  });
  app.addHook('onClose', async () => {
    column.stop();
    await notifier.idle();
  });
  return app;
}
