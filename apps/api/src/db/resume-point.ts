// Where a stream (or a page) resumes after an event_id: the FIRST row of the run that carries it. An id
// may appear twice in a run (two identical events); resuming after the first may resend a few events the
// client has (it dedupes by id), resuming after a later one could lose some.
import { qualified, RUN_LOGS } from '@backfill/engine/db';
import type pg from 'pg';

const SQL = {
  name: 'backfill-api-resume-point',
  text: `SELECT min(id)::text AS id FROM ${qualified(RUN_LOGS)} WHERE event_id = $2 AND run_id = $1`,
};

/** The id of the first row of `runId` whose event_id is `eventId`, or null if none has it. */
export async function firstRowWithEventId(
  db: pg.Pool | pg.ClientBase,
  runId: string,
  eventId: string,
): Promise<bigint | null> {
  const { rows } = await db.query<{ id: string | null }>({ ...SQL, values: [runId, eventId] });
  return rows[0]?.id ? BigInt(rows[0].id) : null;
}
