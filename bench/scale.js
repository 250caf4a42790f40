#!/usr/bin/env node
// npm run bench:scale [-- --rows 1000000,5000000,20000000 --strategies indexed,deferred]: the cost of a backfilled row as the table
// grows, with the event_id index present during the backfill (`migrate --index=concurrent`) and built
// after it (`--index=defer`, the `auto` choice for big tables). Per size and strategy: rows/s, database
// CPU per row (client backends during the backfill; PostgreSQL's background processes — checkpointer,
// writers, autovacuum — apart; the index build apart), checkpoints and buffers the backends had to
// write out themselves, WAL bytes per row, index size per row, end to end (backfill + index build), and the
// batch read's and UPDATE's buffers per row (EXPLAIN (ANALYZE, BUFFERS) on a slice in the middle of
// the table), buffer misses per row over the whole backfill and the table's size (against shared_buffers,
// printed after the table). Prints the ratio of the largest size to the smallest, MET/MISSED against 0.90, and
// writes bench/scale-results.json.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { insertDemoRows } from '@backfill/demo-data';
import { createPool } from '@backfill/engine/db';
import { silentLogger } from '@backfill/engine/logger';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import { ADMIN_URL, admin, cli, copyOf, dbUrl, dropDb, fmt, withDb } from './lib.js';
import { bgwriterStats, startBackgroundCpuSampler, startDbCpuSampler } from './pgcpu.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000,5000000,20000000' },
    strategies: { type: 'string', default: 'indexed,deferred' },
  },
});
const sizes = values.rows.split(',').map(Number);
const strategies = values.strategies.split(',');
if (!strategies.length || strategies.some((s) => s !== 'indexed' && s !== 'deferred')) {
  process.stderr.write('bench:scale: --strategies must be indexed, deferred or both, comma-separated\n');
  process.exit(2);
}
if (sizes.some((n) => !Number.isInteger(n) || n < 10_000)) {
  process.stderr.write('bench:scale: --rows must be whole numbers ≥ 10000, comma-separated\n');
  process.exit(2);
}
const log = (m) => process.stderr.write(`bench:scale: ${m}\n`);
const walBytes = (url) =>
  withDb(url, async (c) =>
    Number((await c.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS b`)).rows[0].b),
  );
const indexBytes = (url) =>
  withDb(url, async (c) =>
    Number(
      (
        await c.query(
          `SELECT coalesce(pg_relation_size(to_regclass('ix_run_logs_event_id')), 0)::float8 AS b`,
        )
      ).rows[0].b,
    ),
  );

async function buildTemplate(name, rows) {
  await dropDb(name);
  await admin(`CREATE DATABASE "${name}"`);
  const url = dbUrl(name);
  const pool = createPool(url, { max: 2 });
  const t0 = Date.now();
  try {
    await insertDemoRows(pool, { rows });
  } finally {
    await pool.end();
  }
  await migrateUp({ databaseUrl: url, index: 'defer', logger: silentLogger, ...DEFAULT_LOCK_POLICY });
  await withDb(url, (c) => c.query('VACUUM ANALYZE run_logs'));
  log(`  template of ${fmt(rows)} rows in ${Math.round((Date.now() - t0) / 1000)} s`);
  return url;
}

/** The database's buffer hits and misses so far (a miss is a page read from the OS, or the disk). */
const blockStats = (url) =>
  withDb(url, async (c) => {
    const { rows } = await c.query(
      `SELECT blks_hit::float8 AS hit, blks_read::float8 AS read FROM pg_stat_database WHERE datname = current_database()`,
    );
    return rows[0];
  });

/** Heap and indexes of run_logs, in bytes, against shared_buffers. */
const relationBytes = (url) =>
  withDb(url, async (c) => {
    const { rows } = await c.query(
      `SELECT pg_table_size('run_logs')::float8 AS heap, pg_indexes_size('run_logs')::float8 AS indexes,
              (SELECT setting::float8 * 8192 FROM pg_settings WHERE name = 'shared_buffers') AS shared_buffers`,
    );
    return rows[0];
  });

/** Buffers touched per row by the batch read and the UPDATE of one 5,000-row batch in the middle. */
async function buffersPerBatch(url, rows) {
  return withDb(url, async (c) => {
    const mid = Math.floor(rows / 2);
    const explain = async (sql) => {
      const { rows: r } = await c.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`);
      const p = r[0]['QUERY PLAN'][0].Plan;
      return (p['Shared Hit Blocks'] + p['Shared Read Blocks']) / 5000;
    };
    await c.query('BEGIN');
    try {
      const read = await explain(
        `SELECT id, xmin::text, run_id, event_type, level, message, data::text FROM run_logs
          WHERE id > ${mid} AND id <= ${mid + 5000} AND coalesce(event_id IS NULL, false) ORDER BY id LIMIT 5000`,
      );
      const update = await explain(
        `UPDATE run_logs t SET event_id = md5(t.id::text) WHERE t.id > ${mid} AND t.id <= ${mid + 5000}
            AND coalesce(t.event_id IS NULL, false)`,
      );
      return { readBlocksPerRow: read, updateBlocksPerRow: update };
    } finally {
      await c.query('ROLLBACK');
    }
  });
}

async function measure(template, rows, strategy) {
  const name = `bf_scale_${strategy}`;
  const url = await copyOf(template, name);
  try {
    if (strategy === 'indexed')
      await withDb(url, (c) => c.query('CREATE INDEX ix_run_logs_event_id ON run_logs (event_id)'));
    await withDb(url, (c) => c.query('CHECKPOINT'));
    const buffers = await buffersPerBatch(url, rows);
    const size = await relationBytes(url);
    const blocks0 = await blockStats(url);
    const wal0 = await walBytes(url);
    const bg0 = await bgwriterStats(ADMIN_URL);
    const cpu = await startDbCpuSampler(ADMIN_URL, name);
    const background = await startBackgroundCpuSampler(ADMIN_URL, name);
    const res = await cli(['run', '--commit', '--json'], { DATABASE_URL: url });
    if (res.code !== 0) throw new Error(`run failed (${res.code}): ${res.stderr}`);
    const s = JSON.parse(res.stdout);
    // The backfill's own cost, apart from the index build after it.
    const dbCpuSeconds = await cpu.stop();
    const bgCpu = await background.stop();
    const bg1 = await bgwriterStats(ADMIN_URL);
    const wal = (await walBytes(url)) - wal0;
    const blocks1 = await blockStats(url);
    let indexSeconds = 0;
    let indexCpuSeconds = 0;
    if (strategy === 'deferred') {
      const t0 = Date.now();
      const ixCpu = await startDbCpuSampler(ADMIN_URL, name);
      const ix = await cli(['index'], { DATABASE_URL: url });
      if (ix.code !== 0) throw new Error(`index failed: ${ix.stderr}`);
      indexSeconds = (Date.now() - t0) / 1000;
      indexCpuSeconds = await ixCpu.stop();
    }
    const index = await indexBytes(url);
    const perRow = (x) => x / rows;
    const bgSeconds = Object.values(bgCpu).reduce((a, b) => a + b, 0);
    return {
      strategy,
      rows,
      rowsPerSecond: s.rowsPerSecond,
      backfillSeconds: s.seconds,
      indexSeconds,
      endToEndRowsPerSecond: Math.round(rows / (s.seconds + indexSeconds)),
      dbCpuMicrosPerRow: perRow(dbCpuSeconds * 1e6),
      backgroundCpuMicrosPerRow: perRow(bgSeconds * 1e6),
      backgroundCpuSeconds: bgCpu,
      indexCpuMicrosPerRow: perRow(indexCpuSeconds * 1e6),
      checkpoints: bg1.checkpoints - bg0.checkpoints,
      backendWritesPerThousandRows: perRow((bg1.buffers_backend - bg0.buffers_backend) * 1000),
      walBytesPerRow: wal / rows,
      // Over the whole backfill: pages not found in shared_buffers, per row, and what the table weighs.
      bufferMissesPerRow: perRow(blocks1.read - blocks0.read),
      bufferHitShare: (blocks1.hit - blocks0.hit) / (blocks1.hit - blocks0.hit + blocks1.read - blocks0.read),
      heapMegabytes: size.heap / 2 ** 20,
      indexesMegabytesBefore: size.indexes / 2 ** 20,
      sharedBuffersMegabytes: size.shared_buffers / 2 ** 20,
      indexBytesPerRow: index / rows,
      ...buffers,
    };
  } finally {
    await dropDb(name);
  }
}

const results = { date: new Date().toISOString(), sizes, runs: [] };
const t0 = Date.now();
for (const rows of sizes) {
  log(`${fmt(rows)} rows`);
  await buildTemplate('bf_scale_template', rows);
  for (const strategy of strategies) {
    log(`  backfill with the index ${strategy === 'indexed' ? 'present' : 'built after'}`);
    results.runs.push(await measure('bf_scale_template', rows, strategy));
  }
  await dropDb('bf_scale_template');
}
const small = Math.min(...sizes);
const large = Math.max(...sizes);
const at = (rows, strategy) => results.runs.find((r) => r.rows === rows && r.strategy === strategy);
results.ratios = {};
for (const strategy of strategies) {
  results.ratios[strategy] = {
    rowsPerSecond:
      Math.round((at(large, strategy).rowsPerSecond / at(small, strategy).rowsPerSecond) * 100) / 100,
    dbCpuPerRow:
      Math.round((at(large, strategy).dbCpuMicrosPerRow / at(small, strategy).dbCpuMicrosPerRow) * 100) / 100,
  };
}
results.seconds = Math.round((Date.now() - t0) / 1000);
const table = [
  [
    'rows',
    'index',
    'rows/s',
    'end to end',
    'db CPU µs/row',
    'bg CPU µs/row',
    'index CPU µs/row',
    'checkpoints',
    'backend writes/1k rows',
    'WAL B/row',
    'index B/row',
    'read blk/row',
    'update blk/row',
    'misses/row',
    'heap + indexes MB',
  ],
  ...results.runs.map((r) => [
    fmt(r.rows),
    r.strategy === 'indexed' ? 'during' : `after (${r.indexSeconds.toFixed(1)} s)`,
    fmt(r.rowsPerSecond),
    fmt(r.endToEndRowsPerSecond),
    fmt(r.dbCpuMicrosPerRow, 1),
    fmt(r.backgroundCpuMicrosPerRow, 1),
    fmt(r.indexCpuMicrosPerRow, 1),
    fmt(r.checkpoints),
    fmt(r.backendWritesPerThousandRows, 1),
    fmt(r.walBytesPerRow),
    fmt(r.indexBytesPerRow, 1),
    fmt(r.readBlocksPerRow, 3),
    fmt(r.updateBlocksPerRow, 3),
    fmt(r.bufferMissesPerRow, 2),
    `${fmt(r.heapMegabytes)} + ${fmt(r.indexesMegabytesBefore)}`,
  ]),
];
const widths = table[0].map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
for (const r of table) process.stdout.write(`${r.map((c, i) => String(c).padEnd(widths[i])).join('  ')}\n`);
for (const strategy of strategies) {
  const r = results.ratios[strategy];
  process.stdout.write(
    `${r.rowsPerSecond >= 0.9 ? 'MET   ' : 'MISSED'} index ${strategy === 'indexed' ? 'during' : 'after'}: rows/s at ${fmt(large)} ≥ 0.90 × at ${fmt(small)} (${r.rowsPerSecond}; db CPU per row ${r.dbCpuPerRow} ×)\n`,
  );
}
writeFileSync(new URL('./scale-results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
if (results.runs[0])
  process.stdout.write(`shared_buffers ${fmt(results.runs[0].sharedBuffersMegabytes)} MB\n`);
process.stdout.write(`\nwrote bench/scale-results.json (${results.seconds}s)\n`);
process.exit(0);
