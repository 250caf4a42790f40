// The write path: events as posted → the rows to insert (event_id from @backfill/shared/event-id, data
// as JSON.stringify of the value hashed) → one INSERT. Writes event_id only while the column exists
// (EventIdColumnWatch), and, when an insert finds the column gone, looks again and writes without it.
import { EventIdError, prepareRunLogInsert } from '@backfill/shared/event-id';
import type pg from 'pg';
import type { EventIdMode } from './config.js';
import { type EventIdColumnWatch, isMissingEventIdColumn } from './db/event-id-column.js';
import { type InsertableEvent, type InsertedRow, insertLogs } from './db/insert-logs.js';
import { RequestError, rowError } from './errors.js';
import type { LogEventBody } from './schemas.js';

/**
 * The row to insert for one posted event of run `runId` (lowercase). `field` is where the event is in
 * the body (`events[2]`, or '' for a single event), for the 400 a bad row gets.
 */
export function prepareEvent(
  runId: string,
  e: LogEventBody,
  field: string,
  mode: EventIdMode,
): InsertableEvent {
  const timestamp = e.timestamp ?? null;
  const data = e.data as never;
  try {
    if (mode === 'off') {
      // The body parser has refused what PostgreSQL cannot store (storable.ts); no id is computed.
      return {
        timestamp,
        level: e.level,
        event_type: e.event_type,
        message: e.message,
        data: data === null ? null : JSON.stringify(data),
        event_id: null,
      };
    }
    const row = prepareRunLogInsert({
      run_id: runId,
      event_type: e.event_type,
      level: e.level,
      message: e.message,
      data,
    });
    return {
      timestamp,
      level: row.level,
      event_type: row.event_type,
      message: row.message,
      data: row.data,
      event_id: row.event_id,
    };
  } catch (err) {
    if (err instanceof EventIdError) throw rowError(err, field);
    if (err instanceof RangeError)
      throw new RequestError(400, 'bad_request', 'nested too deeply', field ? `${field}.data` : 'data');
    throw err;
  }
}

export class LogWriter {
  constructor(
    private readonly pool: pg.Pool,
    private readonly column: EventIdColumnWatch,
    private readonly mode: EventIdMode,
  ) {}

  /** Whether the next insert writes event_id. */
  get writingEventIds(): boolean {
    return this.mode === 'auto' && this.column.present;
  }

  /** Inserts the events (one statement); rows in the order given, event_id null where not written. */
  async write(runId: string, events: InsertableEvent[]): Promise<InsertedRow[]> {
    if (!this.writingEventIds) return insertLogs(this.pool, runId, events, false);
    try {
      return await insertLogs(this.pool, runId, events, true);
    } catch (err) {
      if (!isMissingEventIdColumn(err)) throw err;
      // The column went away (`migrate --down`) since we last looked: nothing was written; again without.
      await this.column.check('insert missed the event_id column');
      return insertLogs(this.pool, runId, events, this.writingEventIds);
    }
  }
}
