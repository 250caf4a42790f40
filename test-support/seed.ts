// Legacy rows (event_id NULL) made server-side, fast, with varied JSON (nesting, arrays, unicode,
// floats, nested "timestamp" keys, NULL message/data).
import { withClient } from './db.js';

export async function seedLegacyRows(url: string, rows: number): Promise<void> {
  await withClient(url, (c) =>
    c.query(
      `INSERT INTO run_logs (run_id, "timestamp", level, event_type, message, data)
       SELECT md5((g / 100)::text)::uuid,
              now() - (g || ' seconds')::interval,
              (ARRAY['info','info','info','debug','warn','error'])[1 + g % 6],
              (ARRAY['step.started','step.finished','log.line','metric'])[1 + g % 4],
              CASE WHEN g % 17 = 0 THEN NULL ELSE 'line ' || g || ' héllo 世界 🚀' END,
              CASE WHEN g % 13 = 0 THEN NULL ELSE jsonb_build_object(
                'n', g, 'f', g * 0.1, 'neg', -g, 'ok', g % 2 = 0,
                'tags', jsonb_build_array('a', g % 7, 'ü'),
                'nested', jsonb_build_object('timestamp', g, 'z', 'x', 'a', jsonb_build_array(jsonb_build_object('k', g)))) END
         FROM generate_series(1, $1::int) g`,
      [rows],
    ),
  );
}

/** md5 over every row in id order: equal before and after means nothing changed. */
export async function tableChecksum(url: string): Promise<string> {
  return withClient(url, async (c) => {
    const { rows } = await c.query(`SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS h FROM run_logs t`);
    return rows[0].h as string;
  });
}

/**
 * A running run (id 1) with one running shard 0 over ids 1..shardToId, for engine tests that call
 * processRange with a shard ledger directly (no producer, no queue).
 */
export async function insertRunningShard(
  url: string,
  opts: { name: string; runToId: number; shardToId: number; estimatedRows?: number },
): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(
      `INSERT INTO backfill_runs (id, name, table_name, event_id_version, status, from_id, to_id, shard_rows, planner)
       VALUES (1, $1, 'run_logs', 1, 'running', 1, $2::bigint, $2::int, 'test')`,
      [opts.name, opts.runToId],
    );
    await c.query(
      `INSERT INTO backfill_shards (run_id, shard_no, from_id, to_id, status, estimated_rows)
       VALUES (1, 0, 1, $1, 'running', $2)`,
      [opts.shardToId, opts.estimatedRows ?? 0],
    );
  });
}
