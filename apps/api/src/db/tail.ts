// The stream tail's statements (see stream/horizon.ts for why each exists): where the table ends now, the
// ids that became visible above the horizon (with their run), the oldest transaction that may still
// commit an id below a gap, and the rows of the watched runs once settled.
import { qualified, RUN_LOGS } from '@backfill/engine/db';
import type pg from 'pg';
import type { LogRow } from '../schemas.js';
import { rowColumns } from './read-logs.js';

const CLOCK = `(extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text`;

/** The highest visible id and the server clock (µs) after the snapshot that saw it. */
export async function tableEnd(db: pg.Pool | pg.ClientBase): Promise<{ maxId: bigint; at: bigint }> {
  const { rows } = await db.query<{ max: string; at: string }>(
    `SELECT coalesce(max(id), 0)::text AS max, ${CLOCK} AS at FROM ${qualified(RUN_LOGS)}`,
  );
  return { maxId: BigInt(rows[0]!.max), at: BigInt(rows[0]!.at) };
}

/** The sequence run_logs.id is drawn from (its oid), its CACHE, or null when id has none. */
export async function idSequence(
  db: pg.Pool | pg.ClientBase,
): Promise<{ oid: number; name: string; cache: number } | null> {
  const { rows } = await db.query<{ oid: number; name: string; cache: string }>(
    `SELECT s.seqrelid::int AS oid, s.seqrelid::regclass::text AS name, s.seqcache::text AS cache
       FROM pg_sequence s
      WHERE s.seqrelid = pg_get_serial_sequence($1, 'id')::regclass`,
    [qualified(RUN_LOGS)],
  );
  const r = rows[0];
  return r ? { oid: r.oid, name: r.name, cache: Number(r.cache) } : null;
}

const NEW_IDS = {
  name: 'backfill-api-tail-new-ids',
  text: `SELECT t.at, r.id, r.run_id
           FROM (SELECT ${CLOCK} AS at) t
           LEFT JOIN LATERAL (
             SELECT r.id::text AS id, r.run_id::text AS run_id FROM ${qualified(RUN_LOGS)} r
              WHERE r.id > $1::bigint ORDER BY r.id LIMIT $2
           ) r ON true`,
};

export interface NewIds {
  at: bigint;
  ids: bigint[];
  runIds: string[];
}

/** Ids visible above `after` (every run), ascending, at most `limit`, and the server clock. */
export async function newIds(db: pg.Pool | pg.ClientBase, after: bigint, limit: number): Promise<NewIds> {
  const { rows } = await db.query<{ at: string; id: string | null; run_id: string | null }>({
    ...NEW_IDS,
    values: [after.toString(), limit],
  });
  const ids: bigint[] = [];
  const runIds: string[] = [];
  for (const r of rows) {
    if (r.id === null) continue;
    ids.push(BigInt(r.id));
    runIds.push(r.run_id!);
  }
  return { at: BigInt(rows[0]!.at), ids, runIds };
}

const HOLDERS = {
  name: 'backfill-api-tail-sequence-holders',
  text: `SELECT count(*)::int AS holders,
                coalesce(bool_or(a.xact_start IS NULL), false) AS unknown,
                (extract(epoch FROM min(a.xact_start)) * 1000000)::bigint::text AS oldest
           FROM pg_locks l
           LEFT JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'relation' AND l.relation = $1::oid
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.pid IS DISTINCT FROM pg_backend_pid()`,
};

/**
 * The earliest transaction start (µs) among the sessions holding a lock on the id sequence, or null
 * when none does. A holder whose start this session may not see (another user's, a prepared
 * transaction) counts as older than anything (0).
 */
export async function oldestSequenceHolder(
  db: pg.Pool | pg.ClientBase,
  sequenceOid: number,
): Promise<bigint | null> {
  const { rows } = await db.query<{ holders: number; unknown: boolean; oldest: string | null }>({
    ...HOLDERS,
    values: [sequenceOid],
  });
  const r = rows[0]!;
  if (r.holders === 0) return null;
  if (r.unknown || r.oldest === null) return 0n;
  return BigInt(r.oldest);
}

function settledRowsSql(withEventId: boolean): string {
  return `SELECT ${rowColumns(withEventId, 'r')}
            FROM ${qualified(RUN_LOGS)} r
           WHERE r.id > $1::bigint AND r.id <= $2::bigint AND r.run_id = ANY ($3::uuid[])
           ORDER BY r.id`;
}
const SETTLED = [true, false].map((withEventId) => ({
  name: `backfill-api-tail-rows-${withEventId}`,
  text: settledRowsSql(withEventId),
}));

/** Rows of `runIds` with ids in (after, upTo], in id order. */
export async function settledRows(
  db: pg.Pool | pg.ClientBase,
  after: bigint,
  upTo: bigint,
  runIds: readonly string[],
  withEventId: boolean,
): Promise<LogRow[]> {
  const { rows } = await db.query<LogRow>({
    ...SETTLED[withEventId ? 0 : 1]!,
    values: [after.toString(), upTo.toString(), runIds],
  });
  return rows;
}
