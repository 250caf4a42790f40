// The write path's one statement: every event of a POST in one multi-row INSERT (arrays through
// unnest, so the statement is the same for any batch size and is prepared once per connection). The
// streams are told by notify.ts, after the commit: not by a NOTIFY in this transaction, which would
// make every insert commit one at a time (NOTIFY takes one lock for the whole database at commit,
// held through the WAL flush), about 400 commits a second on this machine.
import { qualified, RUN_LOGS } from '@backfill/engine/db';
import type pg from 'pg';

/** One event, ready to insert: `data` is the JSON text to store, `event_id` null when not written. */
export interface InsertableEvent {
  timestamp: string | null;
  level: string;
  event_type: string;
  message: string | null;
  data: string | null;
  event_id: string | null;
}

export interface InsertedRow {
  id: string;
  timestamp: string;
  event_id: string | null;
}

function insertSql(withEventId: boolean): string {
  const cols = withEventId ? ', event_id' : '';
  return `INSERT INTO ${qualified(RUN_LOGS)} (run_id, "timestamp", level, event_type, message, data${cols})
SELECT $1::uuid, coalesce(t.ts, now()), t.level, t.event_type, t.message, t.data::jsonb${withEventId ? ', t.event_id' : ''}
  FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
       WITH ORDINALITY AS t(ts, level, event_type, message, data, event_id, ord)
 ORDER BY t.ord
RETURNING id::text AS id, to_json("timestamp") #>> '{}' AS "timestamp", ${withEventId ? 'event_id' : 'NULL::varchar AS event_id'}`;
}

const WITH_ID = { name: 'backfill-api-insert-logs-with-event-id', text: insertSql(true) };
const WITHOUT_ID = { name: 'backfill-api-insert-logs', text: insertSql(false) };

/**
 * Inserts `events` of run `runId` (lowercase UUID) in one statement; returns their rows in the order
 * given (ids ascend in that order). `withEventId` false leaves the column out (it may not exist).
 */
export async function insertLogs(
  db: pg.Pool | pg.ClientBase,
  runId: string,
  events: readonly InsertableEvent[],
  withEventId: boolean,
): Promise<InsertedRow[]> {
  const n = events.length;
  const ts = new Array<string | null>(n);
  const level = new Array<string>(n);
  const type = new Array<string>(n);
  const message = new Array<string | null>(n);
  const data = new Array<string | null>(n);
  const eid = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    ts[i] = e.timestamp;
    level[i] = e.level;
    type[i] = e.event_type;
    message[i] = e.message;
    data[i] = e.data;
    eid[i] = e.event_id;
  }
  const q = withEventId ? WITH_ID : WITHOUT_ID;
  const { rows } = await db.query<InsertedRow>({
    ...q,
    values: [runId, ts, level, type, message, data, eid],
  });
  // Rows are inserted (and their ids drawn) in the order given; RETURNING gives them in that order too,
  // which is checked rather than assumed.
  for (let i = 1; i < rows.length; i++) {
    if (BigInt(rows[i - 1]!.id) > BigInt(rows[i]!.id)) {
      rows.sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
      break;
    }
  }
  return rows;
}
