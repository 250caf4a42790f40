#!/usr/bin/env node
// npm run bench [-- --rows N]: measures, in one sitting on one machine, everything the targets are
// stated against, prints a table and writes bench/results.json.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { insertDemoRows } from '@backfill/demo-data';
import { createPool } from '@backfill/engine/db';
import { silentLogger } from '@backfill/engine/logger';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import { benchApi, printApiBench } from './api.js';
import { benchDashboard } from './dashboard.js';
import { benchEventId } from './event-id.js';
import { benchFleet, benchQueueMemory, throughputSvg } from './fleet.js';
import { admin, dbUrl, dropDb, fmt, withDb } from './lib.js';
import { benchPlan } from './plan.js';
import { benchNaive, benchRun, benchSqlCeiling } from './single.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    workers: { type: 'string', default: '1,2,4' },
    'sparse-rows': { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
  },
});
const fleetSizes = values.workers
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const sparseRows = Number(values['sparse-rows']);
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  process.stderr.write('bench: --rounds must be a whole number from 1 to 20\n');
  process.exit(2);
}
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
log('backfill run --commit (a first sample; more follow, side by side with the fleets)');
const runSamples = [await benchRun(TEMPLATE, rows)];
// Adaptive batch size (the default) against fixed sizes, side by side: it must cost nothing on an idle
// database. Each fixed size runs once, between two samples of the default; its ratio is the mean of
// those two against it, and the target is that ratio for the best fixed size (the fastest one).
results.fixedBatches = [];
for (const size of [1000, 2000, 5000, 10000, 20000]) {
  log(`backfill run --commit, fixed batch size ${size}`);
  const r = await benchRun(TEMPLATE, rows, {
    args: ['--batch-size', String(size), '--target-batch-ms', '0'],
  });
  log('backfill run --commit (the default again, right after it)');
  runSamples.push(await benchRun(TEMPLATE, rows));
  const around = (runSamples.at(-2).rowsPerSecond + runSamples.at(-1).rowsPerSecond) / 2;
  results.fixedBatches.push({ batchSize: size, ...r, adaptiveVsThis: around / r.rowsPerSecond });
}
// The fastest of five noisy samples is chosen for being high, so its own sample overstates it (the
// winner's curse: in one sitting 2,000 beat the default by 6 % while 1,000 and 5,000 were both slower
// than it). The target is measured on two more samples of that size, each between two of the default.
const fastest = results.fixedBatches.reduce((best, f) => (f.rowsPerSecond > best.rowsPerSecond ? f : best));
const confirmations = [];
for (let i = 0; i < 2; i++) {
  log(`backfill run --commit, fixed batch size ${fastest.batchSize} again (the fastest, ${i + 1} of 2)`);
  const r = await benchRun(TEMPLATE, rows, {
    args: ['--batch-size', String(fastest.batchSize), '--target-batch-ms', '0'],
  });
  log('backfill run --commit (the default again, right after it)');
  runSamples.push(await benchRun(TEMPLATE, rows));
  const around = (runSamples.at(-2).rowsPerSecond + runSamples.at(-1).rowsPerSecond) / 2;
  confirmations.push({ rowsPerSecond: r.rowsPerSecond, around });
}
const sumOf = (xs, k) => xs.reduce((t, x) => t + x[k], 0);
results.fastestFixedAgain = {
  batchSize: fastest.batchSize,
  rowsPerSecond: confirmations.map((c) => c.rowsPerSecond),
  adaptiveVsThis: sumOf(confirmations, 'around') / sumOf(confirmations, 'rowsPerSecond'),
};
log('backfill run --commit, event_id without planner statistics (the state right after ADD COLUMN)');
results.runNoStats = await benchRun(TEMPLATE, rows, { withoutEventIdStats: true });
log('backfill run --commit, 2 ms round trip to PostgreSQL (a worker in another zone)');
results.runLatency = await benchRun(TEMPLATE, rows, { latencyMs: 1 });
log('naive per-row client');
results.naive = await benchNaive(TEMPLATE, rows, results.table.maxId);
// The ratios the fleet and `run` targets are stated in (`run`, 1 and 2 workers, the 2-connection
// ceiling) are measured side by side in rounds: each round measures all four, in an order rotated
// from round to round, and each ratio is the median over rounds of the ratio within a round. This
// machine drifts by ±5-30 % over a sitting (the same `run` measured 57.6k and 76.6k rows/s one sitting);
// a ratio of two measurements minutes apart measured the drift as much as the code.
const sideBySide = { run: [], ceiling2: [], fleet1: [], fleet2: [] };
const measure = {
  run: () => benchRun(TEMPLATE, rows),
  ceiling2: () => benchSqlCeiling(TEMPLATE, results.table.maxId, 2),
  fleet1: () => benchFleet(TEMPLATE, rows, 1),
  fleet2: () => benchFleet(TEMPLATE, rows, 2),
};
const kinds = Object.keys(sideBySide);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < kinds.length; k++) {
    const kind = kinds[(k + r) % kinds.length];
    log(`round ${r + 1} of ${rounds}: ${kind}`);
    sideBySide[kind].push(await measure[kind]());
  }
}
results.sqlCeiling2 = averageOf(sideBySide.ceiling2);
results.fleet = [];
for (const n of fleetSizes) {
  if (n === 1 || n === 2) {
    results.fleet.push(averageFleet(sideBySide[`fleet${n}`]));
    continue;
  }
  log(`${n} worker process(es)`);
  results.fleet.push(await benchFleet(TEMPLATE, rows, n));
}
// The same two-worker fleet with its queues in PostgreSQL (no Redis): what the queue costs the database.
log('2 worker processes, queues in PostgreSQL (no Redis)');
results.fleetPostgres = await benchFleet(TEMPLATE, rows, 2, { backend: 'postgres' });
runSamples.push(...sideBySide.run);
results.run = averageRun(runSamples);
/** Median over rounds of a / b within each round. */
const pairedRatio = (a, b) =>
  median(sideBySide[a].map((x, i) => x.rowsPerSecond / sideBySide[b][i].rowsPerSecond));
results.sideBySide = {
  rounds,
  rowsPerSecond: Object.fromEntries(kinds.map((k) => [k, sideBySide[k].map((x) => x.rowsPerSecond)])),
  fleet1VsRun: pairedRatio('fleet1', 'run'),
  fleet2VsRun: pairedRatio('fleet2', 'run'),
  fleet2VsCeiling2: pairedRatio('fleet2', 'ceiling2'),
  runVsCeiling2: pairedRatio('run', 'ceiling2'),
};
log(`sparse table: ${fmt(sparseRows)} rows over ids up to ~10^10 (planning, Redis memory per queued shard)`);
{
  const name = 'bf_bench_sparse';
  await dropDb(name);
  await admin(`CREATE DATABASE "${name}"`);
  const url = dbUrl(name);
  const pool = createPool(url, { max: 2 });
  try {
    await insertDemoRows(pool, { rows: sparseRows, sparse: true });
  } finally {
    await pool.end();
  }
  await migrateUp({ databaseUrl: url, index: 'concurrent', logger: silentLogger, ...DEFAULT_LOCK_POLICY });
  await withDb(url, (c) => c.query('VACUUM ANALYZE run_logs'));
  results.sparse = {
    rows: sparseRows,
    maxId: (await withDb(url, (c) => c.query('SELECT max(id)::text AS m FROM run_logs'))).rows[0].m,
    plan: await benchPlan({ url, shardRows: 50_000 }),
    queueMemory: await benchQueueMemory(url),
  };
  await dropDb(name);
}

log('dashboard: 10,000 shards and 20 workers (run page latency, live feed cost with 1 and 50 pages)');
results.dashboard = await benchDashboard();

log('the application API: POST with and without event_id, 1,000 SSE clients, beside a backfill');
results.api = await benchApi();

/** `run`'s samples: the mean of each measurement, the worst RSS. */
function averageRun(samples) {
  return { ...averageOf(samples), peakRssMb: Math.max(...samples.map((x) => x.peakRssMb)) };
}

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** The mean of every numeric measurement of `samples` (rows/s rounded), with the samples. */
function averageOf(samples) {
  const out = { samples };
  for (const k of Object.keys(samples[0])) {
    if (typeof samples[0][k] === 'number') out[k] = samples.reduce((t, x) => t + x[k], 0) / samples.length;
  }
  out.rowsPerSecond = Math.round(out.rowsPerSecond);
  return out;
}

/** A fleet's samples: mean speed and CPU, the worst queue overhead and RSS, the first sample's series. */
function averageFleet(samples) {
  const lean = samples.map(({ series, ...x }) => x);
  return {
    ...samples[0],
    ...averageOf(lean),
    // null (not measurable: a worker claimed fewer than two shards) if any sample is, as for one sample.
    queueOverhead: samples.some((x) => x.queueOverhead === null)
      ? null
      : Math.max(...samples.map((x) => x.queueOverhead)),
    peakRssMb: Math.max(...samples.map((x) => x.peakRssMb)),
  };
}

const round2 = (x) => Math.round(x * 100) / 100;
const ratio = (a, b) => round2(a / b);
const two = results.fleet.find((f) => f.workers === 2);
const one = results.fleet.find((f) => f.workers === 1);
results.ratios = {
  runVsCeiling: ratio(results.run.rowsPerSecond, results.sqlCeiling1.rowsPerSecond),
  runVsNaive: ratio(results.run.rowsPerSecond, results.naive.rowsPerSecond),
  dbTimePerRowVsCeiling: ratio(results.run.dbCpuMicrosPerRow, results.sqlCeiling1.dbCpuMicrosPerRow),
  dbLatencyPerRowVsCeiling: ratio(results.run.dbMicrosPerRow, results.sqlCeiling1.dbMicrosPerRow),
  runNoStatsVsRun: ratio(results.runNoStats.rowsPerSecond, results.run.rowsPerSecond),
  runLatencyVsRun: ratio(results.runLatency.rowsPerSecond, results.run.rowsPerSecond),
  adaptiveVsBestFixed: round2(results.fastestFixedAgain.adaptiveVsThis),
  ...(two && {
    twoWorkersVsRun: round2(results.sideBySide.fleet2VsRun),
    twoWorkersVsCeiling2: round2(results.sideBySide.fleet2VsCeiling2),
    twoWorkersDbTimeVsCeiling: ratio(two.dbCpuMicrosPerRow, results.sqlCeiling1.dbCpuMicrosPerRow),
    twoWorkersDbLatencyVsCeiling: ratio(two.dbMicrosPerRow, results.sqlCeiling1.dbMicrosPerRow),
    postgresQueuesVsRedis: ratio(results.fleetPostgres.rowsPerSecond, two.rowsPerSecond),
    postgresQueuesDbCpuVsRedis: ratio(results.fleetPostgres.dbCpuMicrosPerRow, two.dbCpuMicrosPerRow),
  }),
  runVsCeiling2: round2(results.sideBySide.runVsCeiling2),
  ...(one && { oneWorkerVsRun: round2(results.sideBySide.fleet1VsRun) }),
};
for (const f of [...results.fleet, results.fleetPostgres]) {
  // 1 and 2 workers: within their rounds; the others against the means.
  const paired = (kind) => f.backend === 'redis' && results.sideBySide[`fleet${f.workers}Vs${kind}`];
  f.vsRun = round2(paired('Run') || f.rowsPerSecond / results.run.rowsPerSecond);
  f.vsCeiling2 = round2(paired('Ceiling2') || f.rowsPerSecond / results.sqlCeiling2.rowsPerSecond);
}
results.targets = [
  ['event-id ≥ 80,000 rows/s per core', results.eventId.rowsPerSecond >= 80_000],
  ['run ≥ 0.90 × one-connection SQL ceiling', results.ratios.runVsCeiling >= 0.9],
  ['run ≥ 25 × naive per-row UPDATE', results.ratios.runVsNaive >= 25],
  ['run db time (backend CPU) per row ≤ 1.25 × ceiling', results.ratios.dbTimePerRowVsCeiling <= 1.25],
  ['run peak RSS < 200 MB', results.run.peakRssMb < 200],
  ['run ≥ 0.75 × two-connection SQL ceiling', results.sideBySide.runVsCeiling2 >= 0.75],
  ['run with event_id unanalyzed ≥ 0.90 × run analyzed', results.ratios.runNoStatsVsRun >= 0.9],
  ['run, adaptive batch size ≥ 0.97 × the best fixed size', results.ratios.adaptiveVsBestFixed >= 0.97],
  ...(one ? [['1 worker ≥ 0.97 × one run process', results.sideBySide.fleet1VsRun >= 0.97]] : []),
  ...(two
    ? [
        ['2 workers ≥ 1.0 × one run process', results.sideBySide.fleet2VsRun >= 1.0],
        ['2 workers ≥ 0.60 × two-connection SQL ceiling', results.sideBySide.fleet2VsCeiling2 >= 0.6],
        [
          '2 workers db time (backend CPU) per row ≤ 1.10 × ceiling',
          results.ratios.twoWorkersDbTimeVsCeiling <= 1.1,
        ],
        ['2 workers, PostgreSQL queues ≥ 0.90 × on Redis', results.ratios.postgresQueuesVsRedis >= 0.9],
        [
          '2 workers, PostgreSQL queues: db CPU per row ≤ 1.10 × on Redis',
          results.ratios.postgresQueuesDbCpuVsRedis <= 1.1,
        ],
      ]
    : []),
  [
    'queue overhead < 5% of shard time (every fleet)',
    [...results.fleet, results.fleetPostgres].every(
      (f) => f.queueOverhead !== null && f.queueOverhead < 0.05,
    ),
  ],
  [
    'worker peak RSS < 200 MB (every fleet)',
    [...results.fleet, results.fleetPostgres].every((f) => f.peakRssMb < 200),
  ],
  [
    'dashboard: run page API p99 < 100 ms at 10,000 shards and 20 workers',
    results.dashboard.runPage.p99 < 100,
  ],
  [
    'dashboard: live feed database cost with 50 pages ≤ 1.2 × with 1',
    results.dashboard.feedTransactionsPerSecond.fiftyPages <=
      1.2 * Math.max(0.1, results.dashboard.feedTransactionsPerSecond.onePage),
  ],
]
  .map(([target, met]) => ({ target, met }))
  .concat(results.api.targets);
results.seconds = Math.round((Date.now() - t0) / 1000);
await dropDb(TEMPLATE);

const cpu = (x) => fmt(x.dbCpuMicrosPerRow, 1);
const node = (x) => (x.nodeCpuMicrosPerRow === undefined ? '' : fmt(x.nodeCpuMicrosPerRow, 1));
const sbs = (kind) => results.sideBySide.rowsPerSecond[kind].map((x) => fmt(x)).join(' / ');
const lat = (x) => fmt(x.dbMicrosPerRow, 1);
const table = [
  ['measurement', 'rows/s', 'db CPU µs/row', 'Node CPU µs/row', 'stmt µs/row', 'note'],
  [
    'event-id compute (1 core)',
    fmt(results.eventId.rowsPerSecond),
    '',
    '',
    '',
    `reference impl ${fmt(results.eventId.referenceRowsPerSecond)} rows/s`,
  ],
  [
    'SQL ceiling, 1 connection',
    fmt(results.sqlCeiling1.rowsPerSecond),
    cpu(results.sqlCeiling1),
    node(results.sqlCeiling1),
    lat(results.sqlCeiling1),
    'uuid_generate_v5 server-side',
  ],
  [
    'backfill run --commit',
    fmt(results.run.rowsPerSecond),
    cpu(results.run),
    node(results.run),
    lat(results.run),
    `mean of ${results.run.samples.map((x) => fmt(x.rowsPerSecond)).join(', ')}; peak RSS ${results.run.peakRssMb} MB`,
  ],
  [
    'run, event_id unanalyzed',
    fmt(results.runNoStats.rowsPerSecond),
    cpu(results.runNoStats),
    node(results.runNoStats),
    lat(results.runNoStats),
    `${results.ratios.runNoStatsVsRun} × run (new column, no planner statistics)`,
  ],
  [
    'run, 2 ms round trip',
    fmt(results.runLatency.rowsPerSecond),
    cpu(results.runLatency),
    node(results.runLatency),
    lat(results.runLatency),
    `${results.ratios.runLatencyVsRun} × run (every packet 1 ms late each way, through a TCP proxy)`,
  ],
  ...results.fixedBatches.map((f) => [
    `run, fixed batch ${fmt(f.batchSize)}`,
    fmt(f.rowsPerSecond),
    cpu(f),
    node(f),
    lat(f),
    `the default, measured around it, is ${round2(f.adaptiveVsThis)} × it`,
  ]),
  [
    `run, fixed batch ${fmt(results.fastestFixedAgain.batchSize)} again`,
    results.fastestFixedAgain.rowsPerSecond.map((x) => fmt(x)).join(' / '),
    '',
    '',
    '',
    `the fastest size, measured twice more: the default around it is ${results.ratios.adaptiveVsBestFixed} × it (the target)`,
  ],
  [
    'naive: one UPDATE per row',
    fmt(results.naive.rowsPerSecond),
    '',
    '',
    '',
    `${fmt(rows)} rows ≈ ${fmt(results.naive.extrapolatedSeconds / 60, 1)} min`,
  ],
  [
    'SQL ceiling, 2 connections',
    fmt(results.sqlCeiling2.rowsPerSecond),
    cpu(results.sqlCeiling2),
    node(results.sqlCeiling2),
    lat(results.sqlCeiling2),
    '',
  ],
  ...results.fleet.map((f) => [
    `${f.workers} worker process${f.workers > 1 ? 'es' : ''}`,
    fmt(f.rowsPerSecond),
    cpu(f),
    node(f),
    lat(f),
    `${f.vsRun} × run, ${f.vsCeiling2} × 2-conn ceiling, queue overhead ${(f.queueOverhead * 100).toFixed(1)}%, RSS ${f.peakRssMb} MB`,
  ]),
  [
    `side by side, ${rounds} rounds`,
    '',
    '',
    '',
    '',
    `rows/s per round: run ${sbs('run')}; 1 worker ${sbs('fleet1')}; 2 workers ${sbs('fleet2')}; 2-conn ceiling ${sbs('ceiling2')}. Medians of the ratios within a round: 1 worker ${results.ratios.oneWorkerVsRun ?? '?'} × run, 2 workers ${results.ratios.twoWorkersVsRun ?? '?'} × run and ${results.ratios.twoWorkersVsCeiling2 ?? '?'} × ceiling, run ${results.ratios.runVsCeiling2} × ceiling`,
  ],
  [
    '2 workers, queues in PostgreSQL',
    fmt(results.fleetPostgres.rowsPerSecond),
    cpu(results.fleetPostgres),
    node(results.fleetPostgres),
    lat(results.fleetPostgres),
    `${results.ratios.postgresQueuesVsRedis ?? '?'} × on Redis, queue overhead ${(results.fleetPostgres.queueOverhead * 100).toFixed(1)}%, RSS ${results.fleetPostgres.peakRssMb} MB (no Redis)`,
  ],
  [
    'plan sparse (keyset walk)',
    '',
    '',
    '',
    '',
    `${results.sparse.plan.keyset.ms} ms, ${results.sparse.plan.keyset.shards} shards, ids up to ${results.sparse.maxId}`,
  ],
  [
    'plan sparse (histogram, analyze)',
    '',
    '',
    '',
    '',
    `${results.sparse.plan.histogram.ms} ms, ${results.sparse.plan.histogram.shards} shards of ${results.sparse.plan.histogram.minRows}..${results.sparse.plan.histogram.maxRows} rows`,
  ],
  [
    'dashboard, 10,000 shards',
    '',
    '',
    '',
    '',
    `run page p50/p99 ${results.dashboard.runPage.p50}/${results.dashboard.runPage.p99} ms; shard map p99 ${results.dashboard.shardMap.p99} ms; feed ${results.dashboard.feedTransactionsPerSecond.onePage} → ${results.dashboard.feedTransactionsPerSecond.fiftyPages} db tx/s (1 → 50 pages)`,
  ],
  [
    'Redis per queued shard',
    '',
    '',
    '',
    '',
    `${fmt(results.sparse.queueMemory.bytesPerShard)} bytes (${fmt(results.sparse.queueMemory.shards)} shards queued)`,
  ],
];
writeFileSync(
  new URL('./throughput.svg', import.meta.url),
  throughputSvg([
    ...results.fleet.map((f) => ({
      label: `${f.workers} worker${f.workers > 1 ? 's' : ''}`,
      series: f.series,
    })),
    { label: '2 workers, PG queues', series: results.fleetPostgres.series },
  ]),
);
for (const f of [...results.fleet, results.fleetPostgres]) f.series = f.series.filter((_, i) => i % 4 === 0); // keeps results.json small
const widths = table[0].map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
for (const r of table) process.stdout.write(`${r.map((c, i) => String(c).padEnd(widths[i])).join('  ')}\n`);
process.stdout.write(
  `\nrun / ceiling ${results.ratios.runVsCeiling} (2 connections: ${results.ratios.runVsCeiling2}) · run / naive ${results.ratios.runVsNaive} · db CPU per row vs ceiling ${results.ratios.dbTimePerRowVsCeiling} (statement latency ${results.ratios.dbLatencyPerRowVsCeiling})\n`,
);
process.stdout.write('\nthe application API (apps/api)\n');
printApiBench(results.api, { targets: false });
process.stdout.write('\n');
for (const t of results.targets) process.stdout.write(`${t.met ? 'MET   ' : 'MISSED'} ${t.target}\n`);
writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\nwrote bench/results.json and bench/throughput.svg (${results.seconds}s)\n`);
process.exit(0); // samplers and pools must not keep a finished bench alive
