// Every route's schemas, in zod: requests are validated with them (validation.ts) and responses
// serialized from the JSON Schema generated from the same zod schema (fast-json-stringify).
import { z } from 'zod';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ROW_ID = /^\d{1,19}$/;
const MAX_BIGINT = 9223372036854775807n;

export const RunParams = z.object({
  runId: z
    .string()
    .regex(UUID, { message: 'must be a UUID (8-4-4-4-12 hex digits)' })
    .transform((s) => s.toLowerCase()),
});
export type RunParams = z.infer<typeof RunParams>;

/** One event as a client posts it. `data` is any JSON value; it is checked by event-id itself. */
export const LogEventBody = z.strictObject({
  event_type: z.string().min(1, { message: 'must be a non-empty string' }),
  level: z.string().min(1, { message: 'must be a non-empty string' }).default('info'),
  message: z.string().nullable().default(null),
  data: z.unknown().default(null),
  timestamp: z.iso
    .datetime({
      offset: true,
      message: 'must be an ISO 8601 date-time with a zone, e.g. 2024-05-01T12:00:00Z',
    })
    .optional(),
});
export type LogEventBody = z.infer<typeof LogEventBody>;

export const logBatchBody = (batchLimit: number) =>
  z.strictObject({
    events: z
      .array(LogEventBody)
      .min(1, { message: 'must hold at least one event' })
      .max(batchLimit, { message: `must hold at most ${batchLimit} events (--batch-limit)` }),
  });

/** One event (an object) or a batch `{ "events": [...] }`. */
export const postLogsBody = (batchLimit: number) => z.union([LogEventBody, logBatchBody(batchLimit)]);
export type PostLogsBody = LogEventBody | { events: LogEventBody[] };

export const WrittenEvent = z.object({
  id: z.string(),
  event_id: z.string().nullable(),
  timestamp: z.string(),
});
export const PostLogsReply = z.union([WrittenEvent, z.object({ events: z.array(WrittenEvent) })]);

/** `after`: a row id, or an event_id (resume after the first row of the run that has it). */
export const cursorValue = z
  .string()
  .refine((s) => (ROW_ID.test(s) ? BigInt(s) <= MAX_BIGINT : UUID.test(s)), {
    message: 'must be a row id (a whole number) or an event_id (a UUID)',
  });

export const listLogsQuery = (pageSize: number, maxPageSize: number) =>
  z.strictObject({
    after: cursorValue.optional(),
    limit: z
      .string()
      .regex(/^\d{1,6}$/, { message: 'must be a whole number' })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(1, { message: 'must be at least 1' })
          .max(maxPageSize, { message: `must be at most ${maxPageSize}` }),
      )
      .default(pageSize),
  });
export type ListLogsQuery = { after?: string; limit: number };

export const LogRow = z.object({
  id: z.string(),
  run_id: z.string(),
  timestamp: z.string(),
  level: z.string(),
  event_type: z.string(),
  message: z.string().nullable(),
  data: z.unknown(),
  event_id: z.string().nullable(),
});
export type LogRow = z.infer<typeof LogRow>;

export const ListLogsReply = z.object({
  rows: z.array(LogRow),
  /** The `after` of the next page, or null when this page was the last one for now. */
  next: z.string().nullable(),
});

export const EventsQuery = z.strictObject({ after: cursorValue.optional() });
/** An empty Last-Event-ID (a client whose last id was reset) is no resume point, as if absent. */
export const EventsHeaders = z.looseObject({
  'last-event-id': z.union([z.literal(''), cursorValue]).optional(),
});

export const HealthReply = z.object({
  ok: z.boolean(),
  event_id_column: z.enum(['present', 'absent']),
  writing_event_ids: z.boolean(),
  /** Open event streams; of those, the ones reading from the database (catching up, or behind). */
  streams: z.number(),
  streams_catching_up: z.number(),
  /** The largest unsent output any stream has had since the start (bounded by --stream-buffer + one row). */
  stream_buffer_peak_bytes: z.number(),
});

export const isRowId = (s: string) => ROW_ID.test(s);
export const isUuid = (s: string) => UUID.test(s);
