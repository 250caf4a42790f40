// POST /runs/:runId/logs (one event, or { events: [...] } up to --batch-limit) and
// GET /runs/:runId/logs?after=&limit= (rows in id order, event_id null where a row has none).
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import type { ApiSettings } from '../config.js';
import { type EventIdColumnWatch, isMissingEventIdColumn } from '../db/event-id-column.js';
import type { RunLogsNotifier } from '../db/notify.js';
import { readLogs } from '../db/read-logs.js';
import { firstRowWithEventId } from '../db/resume-point.js';
import { badRequest, ErrorBody } from '../errors.js';
import {
  isRowId,
  type ListLogsQuery,
  ListLogsReply,
  type LogRow,
  listLogsQuery,
  type PostLogsBody,
  PostLogsReply,
  postLogsBody,
  RunParams,
} from '../schemas.js';
import type { StreamHub } from '../stream/hub.js';
import { jsonSchema } from '../validation.js';
import { type LogWriter, prepareEvent } from '../write-path.js';

export interface LogsRoutesOptions {
  pool: pg.Pool;
  column: EventIdColumnWatch;
  writer: LogWriter;
  notifier: RunLogsNotifier;
  hub: StreamHub;
  settings: ApiSettings;
}

export const logsRoutes: FastifyPluginAsync<LogsRoutesOptions> = async (app, o) => {
  const errors = { '4xx': jsonSchema(ErrorBody), '5xx': jsonSchema(ErrorBody) };

  app.post<{ Params: RunParams; Body: PostLogsBody }>(
    '/runs/:runId/logs',
    {
      schema: {
        params: RunParams,
        body: postLogsBody(o.settings.batchLimit),
        response: { 201: jsonSchema(PostLogsReply), ...errors },
      },
    },
    async (req, reply) => {
      const { runId } = req.params;
      const body = req.body;
      const batch = 'events' in body;
      const events = batch ? body.events : [body];
      const rows = events.map((e, i) =>
        prepareEvent(runId, e, batch ? `events[${i}]` : '', o.settings.eventIds),
      );
      const written = await o.writer.write(runId, rows);
      o.hub.poke(); // this process's streams at once
      o.notifier.notify(); // every process's (and this one's again, harmlessly)
      reply.code(201);
      return batch ? { events: written } : written[0];
    },
  );

  app.get<{ Params: RunParams; Querystring: ListLogsQuery }>(
    '/runs/:runId/logs',
    {
      schema: {
        params: RunParams,
        querystring: listLogsQuery(o.settings.pageSize, o.settings.maxPageSize),
        response: { 200: jsonSchema(ListLogsReply), ...errors },
      },
    },
    async (req) => {
      const { runId } = req.params;
      const { limit } = req.query;
      const after = await afterCursor(o, runId, req.query.after);
      const read = () => readLogs(o.pool, { runId, after, limit, withEventId: o.column.present });
      let rows: LogRow[];
      try {
        rows = await read();
      } catch (err) {
        if (!isMissingEventIdColumn(err)) throw err;
        await o.column.check('read missed the event_id column');
        rows = await read();
      }
      return { rows, next: rows.length === limit ? rows[rows.length - 1]!.id : null };
    },
  );
};

/** `after` of a page: a row id as it is, an event_id as the first row of the run that has it. */
async function afterCursor(o: LogsRoutesOptions, runId: string, after: string | undefined): Promise<bigint> {
  if (after === undefined) return 0n;
  if (isRowId(after)) return BigInt(after);
  const first = o.column.present ? await firstRowWithEventId(o.pool, runId, after.toLowerCase()) : null;
  if (first === null) throw badRequest('after', `no row of run ${runId} has event_id ${after}`);
  return first;
}
