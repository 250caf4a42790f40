// "This row has no event id yet", written so that no plan depends on event_id's statistics.
//
// Right after `migrate`, event_id has no planner statistics (ADD COLUMN triggers no ANALYZE, and
// autoanalyze waits for 10% of the table to change), so the planner guesses `event_id IS NULL` matches
// 0.5% of rows and reads every batch through ix_run_logs_event_id: a bitmap of every NULL left in the
// table, then a sort — each batch costs as much as the whole remaining backfill (quadratic). Wrapped in
// coalesce, the condition matches no index and gets a fixed selectivity, so the only sensible plan is
// the primary-key range scan the keyset batch is written for. (event_id IS NULL is never NULL itself, so
// the coalesce changes no result.)
import type pg from 'pg';
import type { TableRef } from '../db.js';

/** The predicate for a table alias (e.g. 't.') or none (''). */
export function missingEventId(alias = ''): string {
  return `coalesce(${alias}event_id IS NULL, false)`;
}

/** Whether ANALYZE has given event_id planner statistics (the application's queries may need them). */
export async function eventIdHasStatistics(client: pg.ClientBase, table: TableRef): Promise<boolean> {
  const { rows } = await client.query<{ analyzed: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stats
                     WHERE schemaname = $1 AND tablename = $2 AND attname = 'event_id') AS analyzed`,
    [table.schema, table.name],
  );
  return rows[0]?.analyzed ?? false;
}

/** A warning for operators when event_id has no statistics, or null. */
export async function eventIdStatisticsWarning(
  client: pg.ClientBase,
  table: TableRef,
): Promise<string | null> {
  if (await eventIdHasStatistics(client, table)) return null;
  return (
    `${table.schema}.${table.name}.event_id has no planner statistics (never analyzed since the column was added). ` +
    "The backfill's own queries do not depend on them, but the application's lookups by event_id may plan badly: " +
    `run ANALYZE ${table.schema}.${table.name} (event_id) (backfill migrate does it).`
  );
}
