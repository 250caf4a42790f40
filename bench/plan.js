// Shard planning benchmark: planShards on an existing sparse run_logs, by keyset walk (exact) and by
// histogram after ANALYZE with statistics target 10000, with the histogram's shards counted for real.
//
//   node bench/plan.js [rows] [shardRows]     # own database bf_bench_plan: 1,000,000 sparse rows, 50,000
//
// Imports resolve to the built packages: `npx tsc -b packages/engine` (or `npm run build`) first.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { insertDemoRows } from '@backfill/demo-data';
import { createPool } from '@backfill/engine/db';
import { silentLogger } from '@backfill/engine/logger';
import { planShards } from '@backfill/engine/plan';
import pg from 'pg';

const RUN_LOGS = { schema: 'public', name: 'run_logs' };

function spread(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { minRows: s[0] ?? 0, medianRows: s[Math.floor(s.length / 2)] ?? 0, maxRows: s.at(-1) ?? 0 };
}

const qualified = (t) => `${pg.escapeIdentifier(t.schema)}.${pg.escapeIdentifier(t.name)}`;

/** Actual rows per shard, one scan: width_bucket over the shards' first ids. */
async function countShards(client, table, shards) {
  const counts = shards.map(() => 0);
  if (shards.length === 0) return counts;
  const { rows } = await client.query(
    `SELECT width_bucket(id, $1::bigint[]) AS b, count(*)::int AS n FROM ${qualified(table)}
      WHERE id BETWEEN $2::bigint AND $3::bigint GROUP BY 1`,
    [shards.map((s) => s.fromId.toString()), shards[0].fromId.toString(), shards.at(-1).toId.toString()],
  );
  for (const r of rows) counts[r.b - 1] = r.n;
  return counts;
}

/**
 * Plans `table` (default public.run_logs, which the caller has filled) twice and reports time and rows
 * per shard: keyset (its estimates are exact) and histogram with analyze (estimates, then actual counts).
 */
export async function benchPlan({ url, shardRows = 50_000, table = RUN_LOGS, logger = silentLogger }) {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-plan' });
  await client.connect();
  try {
    const keyset = await planShards(client, { table, shardRows, method: 'keyset', logger });
    const histogram = await planShards(client, {
      table,
      shardRows,
      method: 'histogram',
      analyze: true,
      logger,
    });
    const started = performance.now();
    const actual = await countShards(client, table, histogram.shards);
    const countMs = Math.round(performance.now() - started);
    return {
      shardRows,
      keyset: {
        ms: keyset.ms,
        shards: keyset.shards.length,
        ...spread(keyset.shards.map((s) => s.estimatedRows)),
        rows: keyset.estimatedRows,
      },
      histogram: {
        ms: histogram.ms,
        shards: histogram.shards.length,
        ...spread(actual),
        rows: actual.reduce((a, b) => a + b, 0),
        estimated: spread(histogram.shards.map((s) => s.estimatedRows)),
        countMs,
        notes: histogram.notes,
      },
    };
  } finally {
    await client.end();
  }
}

async function main() {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const shardRows = Number(process.argv[3] ?? 50_000);
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(shardRows) || shardRows < 1) {
    process.stderr.write('usage: node bench/plan.js [rows] [shardRows]\n');
    process.exit(2);
  }
  const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = 'bf_bench_plan';
  const admin = async (sql) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  try {
    process.stderr.write(`bench plan: inserting ${rows.toLocaleString('en-US')} sparse rows\n`);
    const pool = createPool(url, { max: 2 });
    try {
      await insertDemoRows(pool, { rows, sparse: true });
    } finally {
      await pool.end();
    }
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('VACUUM ANALYZE run_logs').finally(() => c.end());
    process.stderr.write('bench plan: planning\n');
    process.stdout.write(`${JSON.stringify(await benchPlan({ url, shardRows }), null, 2)}\n`);
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
