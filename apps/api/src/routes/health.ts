// GET /healthz: the database answers, whether event_id is written now, how many streams are open.
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import type { EventIdColumnWatch } from '../db/event-id-column.js';
import { ErrorBody } from '../errors.js';
import { HealthReply } from '../schemas.js';
import type { StreamHub } from '../stream/hub.js';
import { jsonSchema } from '../validation.js';
import type { LogWriter } from '../write-path.js';

export interface HealthRoutesOptions {
  pool: pg.Pool;
  column: EventIdColumnWatch;
  writer: LogWriter;
  hub: StreamHub;
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, o) => {
  app.get(
    '/healthz',
    { schema: { response: { 200: jsonSchema(HealthReply), '5xx': jsonSchema(ErrorBody) } } },
    async () => {
      await o.pool.query('SELECT 1');
      const streams = o.hub.stats();
      return {
        ok: true,
        event_id_column: o.column.present ? 'present' : 'absent',
        writing_event_ids: o.writer.writingEventIds,
        streams: streams.open,
        streams_catching_up: streams.catchingUp,
        stream_buffer_peak_bytes: streams.peakBufferedBytes,
      };
    },
  );
};
