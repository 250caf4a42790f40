// Issue 4 measurements: N worker processes on the same table, the queue's overhead, Redis memory
// per queued shard, and the rows/s-over-time chart.
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { ADMIN_URL, cli, copyOf, dropDb, programEnv, WORKER, withDb } from './lib.js';
import { cpuSeconds, startDbCpuSampler } from './pgcpu.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rowsDone = (c) =>
  c
    .query('SELECT coalesce(sum(rows_updated), 0)::bigint AS n FROM backfill_shards')
    .then((r) => Number(r.rows[0].n));

function spawnWorker(env, args) {
  const p = spawn(process.execPath, [WORKER, '--poll-interval', '200ms', ...args], {
    env: programEnv({ LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines = [];
  let buf = '';
  p.stderr.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const l of parts) {
      try {
        lines.push(JSON.parse(l));
      } catch {}
    }
  });
  const exited = new Promise((r) => p.on('exit', r));
  const ready = new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (lines.some((l) => l.msg === 'worker started')) resolve();
      else if (p.exitCode !== null) reject(new Error(`worker exited (${p.exitCode}) before it started`));
      else return;
      clearInterval(check);
    }, 50);
  });
  return { p, lines, exited, ready };
}

async function cleanPrefix(redisUrl, prefix) {
  const r = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
}

/**
 * N worker processes (concurrency 1 each) backfill a copy of the template table. The fleet is standing
 * before the run starts, as in production (workers are long-lived replicas waiting for runs), so the
 * run's speed is its own lifetime in the ledger, `started_at` to `finished_at`, like `run`'s summary,
 * which does not count Node's start-up either.
 */
export async function benchFleet(
  template,
  rows,
  workers,
  { redisUrl = 'redis://127.0.0.1:6379', workerArgs = [], startArgs = [], backend = 'redis' } = {},
) {
  const name = `bf_bench_fleet${workers}${backend === 'redis' ? '' : `_${backend}`}`;
  const url = await copyOf(template, name);
  const prefix = `bench-${process.pid}-${workers}`;
  // PostgreSQL queues: a Redis URL nothing answers, so the run proves it needs none.
  const env =
    backend === 'redis'
      ? { DATABASE_URL: url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix }
      : { DATABASE_URL: url, REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: prefix, QUEUE_BACKEND: backend };
  const fleet = Array.from({ length: workers }, () => spawnWorker(env, workerArgs));
  try {
    await Promise.all(fleet.map((w) => w.ready));
    const cpu = await startDbCpuSampler(ADMIN_URL, name);
    const workersCpu = () => fleet.reduce((t, w) => t + (cpuSeconds(w.p.pid) ?? 0), 0);
    const nodeCpuBefore = workersCpu();
    const t0 = performance.now();
    const started = await cli(
      ['start', '--name', 'bench', '--commit', '--json', ...startArgs], // default settings unless asked
      env,
    );
    if (started.code !== 0) throw new Error(`start failed: ${started.stderr}`);
    const shards = JSON.parse(started.stdout).enqueued;
    const series = [];
    const lifetime = await withDb(url, async (c) => {
      for (;;) {
        const done = await rowsDone(c);
        series.push({ t: (performance.now() - t0) / 1000, rows: done });
        const { rows: r } = await c.query(
          `SELECT status, extract(epoch FROM finished_at - started_at)::float8 AS seconds
             FROM backfill_runs WHERE name = 'bench'`,
        );
        if (r[0].status !== 'running') return r[0].seconds;
        await sleep(500);
      }
    });
    const wallSeconds = (performance.now() - t0) / 1000;
    const seconds = lifetime ?? wallSeconds;
    const dbCpuSeconds = await cpu.stop();
    const nodeCpuSeconds = workersCpu() - nodeCpuBefore; // from `start` to the run's end, start-up excluded
    for (const w of fleet) w.p.kill('SIGTERM');
    await Promise.all(fleet.map((w) => w.exited));
    const completed = fleet.flatMap((w) => w.lines.filter((l) => l.msg === 'shard completed'));
    const updated = completed.reduce((s, l) => s + l.rowsUpdated, 0);
    if (updated !== rows) throw new Error(`${workers} workers updated ${updated} of ${rows} rows`);
    const dbMs = completed.reduce((s, l) => s + l.readMs + l.writeMs, 0);
    // Queue overhead: the share of the fleet's usable shard slots not spent inside the batch engine
    // (fetching jobs, claiming and completing shards in the ledger) while work was still queued, i.e.
    // from the fleet's first claim to its last. Usable: the run's parallelism caps the shards running
    // at once whatever the slots (four slots under --parallelism 2 leave two idle by design, which is
    // not the queue's cost), so the capacity is min(slots, parallelism) over that window. Slots idle
    // after the last claim are the run's tail, not the queue's cost.
    const parallelism = await withDb(url, (c) =>
      c
        .query(`SELECT (settings->>'parallelism')::int AS p FROM backfill_runs WHERE name = 'bench'`)
        .then((r) => r.rows[0]?.p ?? 0),
    );
    const claims = fleet.flatMap((w) =>
      w.lines.filter((l) => l.msg === 'shard claimed').map((l) => Date.parse(l.time)),
    );
    const slots = fleet.reduce(
      (n, w) => n + (w.lines.find((l) => l.msg === 'worker started')?.concurrency ?? 1),
      0,
    );
    let capacity = 0;
    let inRange = 0;
    if (claims.length >= 2) {
      const from = Math.min(...claims);
      const to = Math.max(...claims);
      capacity = (parallelism > 0 ? Math.min(slots, parallelism) : slots) * (to - from);
      for (const d of completed) {
        const end = Date.parse(d.time);
        inRange += Math.max(0, Math.min(end, to) - Math.max(end - d.rangeMs, from));
      }
    }
    const rss = fleet.map((w) => w.lines.find((l) => l.msg === 'worker stopped')?.peakRssMb ?? null);
    return {
      workers,
      backend,
      shards,
      seconds,
      wallSeconds,
      rowsPerSecond: Math.round(rows / seconds),
      dbMicrosPerRow: (dbMs * 1000) / rows,
      dbCpuMicrosPerRow: (dbCpuSeconds * 1e6) / rows,
      nodeCpuMicrosPerRow: (nodeCpuSeconds * 1e6) / rows,
      queueOverhead: capacity > 0 ? Math.max(0, 1 - inRange / capacity) : null,
      peakRssMb: Math.max(...rss.filter((x) => x !== null)),
      series,
    };
  } finally {
    for (const w of fleet) w.p.kill('SIGTERM');
    await Promise.all(fleet.map((w) => w.exited));
    if (backend === 'redis') await cleanPrefix(redisUrl, prefix);
    await dropDb(name);
  }
}

/** Redis memory per queued shard: enqueue a run of many shards on a sparse table and measure. */
export async function benchQueueMemory(url, redisUrl = 'redis://127.0.0.1:6379') {
  const prefix = `bench-mem-${process.pid}`;
  const r = new Redis(redisUrl);
  const used = async () => Number(/used_memory:(\d+)/.exec(await r.info('memory'))[1]);
  try {
    const before = await used();
    const res = await cli(
      ['start', '--name', 'mem', '--commit', '--shard-rows', '200', '--planner', 'histogram', '--json'],
      {
        DATABASE_URL: url,
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: prefix,
      },
    );
    if (res.code !== 0) throw new Error(`start failed: ${res.stderr}`);
    const shards = JSON.parse(res.stdout).enqueued;
    const after = await used();
    await withDb(url, (c) => c.query(`DELETE FROM backfill_runs WHERE name = 'mem'`));
    return { shards, bytesPerShard: Math.round((after - before) / shards) };
  } finally {
    r.disconnect();
    await cleanPrefix(redisUrl, prefix);
  }
}

/** An SVG line chart of rows/s over time, one line per configuration. */
export function throughputSvg(configs) {
  const W = 760;
  const H = 360;
  const pad = { l: 70, r: 150, t: 30, b: 45 };
  const lines = configs.map((c) => {
    const pts = [];
    for (let i = 2; i < c.series.length; i++) {
      const a = c.series[i - 2];
      const b = c.series[i];
      pts.push({ t: b.t, rate: (b.rows - a.rows) / (b.t - a.t) });
    }
    return { label: c.label, pts };
  });
  const maxT = Math.max(1, ...lines.flatMap((l) => l.pts.map((p) => p.t)));
  const maxR = Math.max(1, ...lines.flatMap((l) => l.pts.map((p) => p.rate))) * 1.1;
  const x = (t) => pad.l + (t / maxT) * (W - pad.l - pad.r);
  const y = (r) => H - pad.b - (r / maxR) * (H - pad.t - pad.b);
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const r = maxR * f;
    return `<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(r)}" y2="${y(r)}" stroke="#ddd"/><text x="${pad.l - 8}" y="${y(r) + 4}" text-anchor="end" font-size="11">${Math.round(r).toLocaleString('en-US')}</text>`;
  });
  const paths = lines.map(
    (l, i) =>
      `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${l.pts.map((p) => `${x(p.t).toFixed(1)},${y(p.rate).toFixed(1)}`).join(' ')}"/>` +
      `<text x="${W - pad.r + 10}" y="${pad.t + 18 * (i + 1)}" font-size="12" fill="${colors[i % colors.length]}">${l.label}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<title>backfill rows/s over time by number of worker processes</title>
<rect width="100%" height="100%" fill="white"/>
<text x="${pad.l}" y="18" font-size="14">rows/s over time (1M rows, same table copy each)</text>
${grid.join('\n')}
<line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#333"/>
<text x="${(W - pad.r + pad.l) / 2}" y="${H - 10}" text-anchor="middle" font-size="12">seconds</text>
<text x="${W - pad.r}" y="${H - pad.b + 16}" text-anchor="end" font-size="11">${maxT.toFixed(0)}</text>
${paths.join('\n')}
</svg>
`;
}
