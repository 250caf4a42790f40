#!/usr/bin/env node
// npm run bench [-- --rows N]: measures, in one sitting on one machine, everything the targets are
// stated against, prints a table and writes bench/results.json.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createPool, DEFAULT_LOCK_POLICY, insertDemoRows, migrateUp, silentLogger } from '@backfill/engine';
import { benchEventId } from './event-id.js';
import { admin, dbUrl, dropDb, fmt, withDb } from './lib.js';
import { benchNaive, benchRun, benchSqlCeiling } from './single.js';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' } },
});
const rows = Number(values.rows);
if (!Number.isInteger(rows) || rows < 1000) {
  process.stderr.write('bench: --rows must be a whole number ≥ 1000\n');
  process.exit(2);
}

const TEMPLATE = 'bf_bench_template';
const log = (m) => process.stderr.write(`bench: ${m}\n`);

async function buildTemplate() {
  await dropDb(TEMPLATE);
  await admin(`CREATE DATABASE "${TEMPLATE}"`);
  const url = dbUrl(TEMPLATE);
  const pool = createPool(url, { max: 2 });
  try {
    await insertDemoRows(pool, { rows });
  } finally {
    await pool.end();
  }
  await migrateUp({ databaseUrl: url, index: 'concurrent', logger: silentLogger, ...DEFAULT_LOCK_POLICY });
  await withDb(url, (c) => c.query('VACUUM ANALYZE run_logs'));
  const { rows: r } = await withDb(url, (c) =>
    c.query(
      `SELECT max(id)::int AS max, pg_size_pretty(pg_total_relation_size('run_logs')) AS size FROM run_logs`,
    ),
  );
  return { maxId: r[0].max, size: r[0].size };
}

const results = {
  date: new Date().toISOString(),
  rows,
  machine: { cpus: (await import('node:os')).cpus().length },
};
const t0 = Date.now();
log('event-id compute');
results.eventId = await benchEventId();
log(`template table: ${fmt(rows)} demo rows`);
results.table = await buildTemplate();
log('SQL ceiling, 1 connection');
results.sqlCeiling1 = await benchSqlCeiling(TEMPLATE, results.table.maxId, 1);
log('backfill run --commit');
results.run = await benchRun(TEMPLATE, rows);
log('naive per-row client');
results.naive = await benchNaive(TEMPLATE, rows);

const ratio = (a, b) => Math.round((a / b) * 100) / 100;
results.ratios = {
  runVsCeiling: ratio(results.run.rowsPerSecond, results.sqlCeiling1.rowsPerSecond),
  runVsNaive: ratio(results.run.rowsPerSecond, results.naive.rowsPerSecond),
  dbTimePerRowVsCeiling: ratio(results.run.dbMicrosPerRow, results.sqlCeiling1.dbMicrosPerRow),
};
results.targets = [
  ['event-id ≥ 80,000 rows/s per core', results.eventId.rowsPerSecond >= 80_000],
  ['run ≥ 0.90 × one-connection SQL ceiling', results.ratios.runVsCeiling >= 0.9],
  ['run ≥ 25 × naive per-row UPDATE', results.ratios.runVsNaive >= 25],
  ['run db time per row ≤ 1.25 × ceiling', results.ratios.dbTimePerRowVsCeiling <= 1.25],
  ['run peak RSS < 200 MB', results.run.peakRssMb < 200],
].map(([target, met]) => ({ target, met }));
results.seconds = Math.round((Date.now() - t0) / 1000);
await dropDb(TEMPLATE);

const table = [
  ['measurement', 'rows/s', 'db µs/row', 'note'],
  [
    'event-id compute (1 core)',
    fmt(results.eventId.rowsPerSecond),
    '',
    `reference impl ${fmt(results.eventId.referenceRowsPerSecond)} rows/s`,
  ],
  [
    'SQL ceiling, 1 connection',
    fmt(results.sqlCeiling1.rowsPerSecond),
    fmt(results.sqlCeiling1.dbMicrosPerRow, 1),
    'uuid_generate_v5 server-side',
  ],
  [
    'backfill run --commit',
    fmt(results.run.rowsPerSecond),
    fmt(results.run.dbMicrosPerRow, 1),
    `peak RSS ${results.run.peakRssMb} MB`,
  ],
  [
    'naive: one UPDATE per row',
    fmt(results.naive.rowsPerSecond),
    '',
    `${fmt(rows)} rows ≈ ${fmt(results.naive.extrapolatedSeconds / 60, 1)} min`,
  ],
];
const widths = table[0].map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
for (const r of table) process.stdout.write(`${r.map((c, i) => String(c).padEnd(widths[i])).join('  ')}\n`);
process.stdout.write(
  `\nrun / ceiling ${results.ratios.runVsCeiling} · run / naive ${results.ratios.runVsNaive} · db time per row vs ceiling ${results.ratios.dbTimePerRowVsCeiling}\n`,
);
for (const t of results.targets) process.stdout.write(`${t.met ? 'MET   ' : 'MISSED'} ${t.target}\n`);
writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\nwrote bench/results.json (${results.seconds}s)\n`);
