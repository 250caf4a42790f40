// GET /runs/:runId/events: server-sent events, one per row, `id: <event_id>` (or the row id where a row
// has none), resuming after Last-Event-ID (or ?after= for a first connection): an event_id resumes after
// the first row of the run that has it (a resend is possible, a loss is not: clients dedupe by id), a
// row id after that row. Without either, the stream starts at the run's first row.
import type { Logger } from '@backfill/engine/logger';
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import type { ApiSettings } from '../config.js';
import { type EventIdColumnWatch, isMissingEventIdColumn } from '../db/event-id-column.js';
import { firstRowWithEventId } from '../db/resume-point.js';
import { ErrorBody } from '../errors.js';
import { EventsHeaders, EventsQuery, isRowId, RunParams } from '../schemas.js';
import type { StreamHub } from '../stream/hub.js';
import { SseStream } from '../stream/sse.js';
import { jsonSchema } from '../validation.js';

export interface EventsRoutesOptions {
  pool: pg.Pool;
  column: EventIdColumnWatch;
  hub: StreamHub;
  settings: ApiSettings;
  logger: Logger;
}

export const eventsRoutes: FastifyPluginAsync<EventsRoutesOptions> = async (app, o) => {
  app.get<{ Params: RunParams; Querystring: { after?: string }; Headers: { 'last-event-id'?: string } }>(
    '/runs/:runId/events',
    {
      schema: {
        params: RunParams,
        querystring: EventsQuery,
        headers: EventsHeaders,
        // 200 is text/event-stream (see sse.ts for the frames); errors are JSON.
        response: { '4xx': jsonSchema(ErrorBody), '5xx': jsonSchema(ErrorBody) },
      },
    },
    async (req, reply) => {
      const { runId } = req.params;
      // On a reconnect the client sends Last-Event-ID, which is newer than the URL's ?after=.
      const cursor = await resumeCursor(o, runId, req.headers['last-event-id'] ?? req.query.after);
      reply.hijack();
      const stream = new SseStream(reply.raw);
      stream.open(o.settings.sseRetryMs);
      o.hub.subscribe(runId, cursor, stream);
    },
  );
};

/** The row id a stream resumes after: 0 (the run's first row) when there is nothing to resume from. */
async function resumeCursor(
  o: EventsRoutesOptions,
  runId: string,
  last: string | undefined,
): Promise<bigint> {
  if (last === undefined || last === '') return 0n;
  if (isRowId(last)) return BigInt(last);
  let first: bigint | null = null;
  if (o.column.present) {
    try {
      first = await firstRowWithEventId(o.pool, runId, last.toLowerCase());
    } catch (err) {
      if (!isMissingEventIdColumn(err)) throw err;
      await o.column.check('resume lookup missed the event_id column');
    }
  }
  if (first === null) {
    // Not a loss: the stream starts at the run's first row and the client dedupes by id.
    o.logger.info(
      { runId, lastEventId: last },
      'stream: no row of the run has this event_id; resending from the start',
    );
    return 0n;
  }
  return first;
}
