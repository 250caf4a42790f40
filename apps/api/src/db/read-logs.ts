// A page of one run's rows in id order, after a cursor and (for streams) up to a horizon: GET
// /runs/:runId/logs, and a stream catching up. `event_id` is NULL where a row has none, and where the
// column does not exist yet.
import { qualified, RUN_LOGS } from '@backfill/engine/db';
import type pg from 'pg';
import type { LogRow } from '../schemas.js';

/** The columns of a row as the API returns it (also the stream tail's). */
export function rowColumns(withEventId: boolean, alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return `${a}id::text AS id, ${a}run_id::text AS run_id, to_json(${a}"timestamp") #>> '{}' AS "timestamp",
          ${a}level, ${a}event_type, ${a}message, ${a}data, ${withEventId ? `${a}event_id` : 'NULL::varchar AS event_id'}`;
}

function pageSql(withEventId: boolean, bounded: boolean): string {
  // ORDER BY r.id, not id: the output column `id` is text, and would sort 1, 10, 100, 2.
  return `SELECT ${rowColumns(withEventId, 'r')}
            FROM ${qualified(RUN_LOGS)} r
           WHERE r.run_id = $1 AND r.id > $2::bigint${bounded ? ' AND r.id <= $4::bigint' : ''}
           ORDER BY r.id
           LIMIT $3`;
}

const STATEMENTS = new Map<string, { name: string; text: string }>();
for (const withEventId of [true, false]) {
  for (const bounded of [true, false]) {
    const key = `${withEventId}/${bounded}`;
    STATEMENTS.set(key, { name: `backfill-api-read-logs-${key}`, text: pageSql(withEventId, bounded) });
  }
}

/** Rows of `runId` with id > `after` (and ≤ `upTo` when given), at most `limit`, in id order. */
export async function readLogs(
  db: pg.Pool | pg.ClientBase,
  opts: { runId: string; after: bigint; limit: number; upTo?: bigint; withEventId: boolean },
): Promise<LogRow[]> {
  const bounded = opts.upTo !== undefined;
  const q = STATEMENTS.get(`${opts.withEventId}/${bounded}`)!;
  const values: unknown[] = [opts.runId, opts.after.toString(), opts.limit];
  if (bounded) values.push(opts.upTo!.toString());
  const { rows } = await db.query<LogRow>({ ...q, values });
  return rows;
}
