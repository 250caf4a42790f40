#!/usr/bin/env node
// The application side under load (npm run bench:api; each function is exported for bench/run.js):
// - POST throughput with and without event_id computation (`--event-ids auto` against `off`), single
//   events and batches of 100, interleaved (off, auto, auto, off) so the machine's drift cancels out:
//   target, the id costs < 5% of the write path.
// - Fan-out: 1,000 concurrent SSE clients on one API process while events are posted; the delay from
//   just before the POST is sent to delivery (so the INSERT is counted in it): target p99 < 100 ms.
// - The backfill beside the API under POST load: the API's p50/p99 with no backfill, with `run`,
//   with `run` throttled (--max-rows-per-second), and with two workers. Reported.
// The API is its deployable (apps/api/bin/backfill-api.js), one process, on a fresh database each time.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateDemoRows, insertDemoRows } from '@backfill/demo-data';
import { createPool } from '@backfill/engine/db';
import { silentLogger } from '@backfill/engine/logger';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import { prepareRunLogInsert } from '@backfill/shared/event-id';
import { ADMIN_URL, admin, cli, copyOf, dbUrl, dropDb, fmt, programEnv, WORKER, withDb } from './lib.js';
import { cpuSeconds } from './pgcpu.js';

export const API = fileURLToPath(new URL('../apps/api/bin/backfill-api.js', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.timeOrigin + performance.now();
const log = (m) => process.stderr.write(`bench:api: ${m}\n`);

/** The API deployable on `url`; resolves once it listens. */
export async function startApiProcess(url, args = [], env = {}) {
  const p = spawn(process.execPath, [API, ...args], {
    env: programEnv({ LOG_LEVEL: 'info', PORT: '0', DATABASE_URL: url, ...env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let buf = '';
  const base = await new Promise((resolve, reject) => {
    p.stderr.on('data', (d) => {
      buf += d;
      const m = /"address":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(buf);
      if (m) resolve(m[1]);
    });
    p.on('exit', (code) => reject(new Error(`backfill-api exited (${code}) before listening: ${buf}`)));
  });
  return {
    base,
    pid: p.pid,
    async stop() {
      if (p.exitCode !== null) return;
      const exited = new Promise((r) => p.on('exit', r));
      p.kill('SIGTERM');
      await exited;
    },
  };
}

/** An empty migrated database of our own. */
async function migratedDb(name) {
  await dropDb(name);
  await admin(`CREATE DATABASE "${name}"`);
  const url = dbUrl(name);
  await migrateUp({ databaseUrl: url, index: 'concurrent', logger: silentLogger, ...DEFAULT_LOCK_POLICY });
  return url;
}

const percentile = (sorted, p) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function summary(latencies) {
  const s = Float64Array.from(latencies).sort();
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : 0 };
}

/** One POST; resolves with its status. */
function postOnce(agent, base, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Bodies of realistic events (the demo's generator), pre-serialized, `perPost` events each. */
function bodies(count, perPost, seed) {
  const rows = generateDemoRows(count * perPost, { seed });
  const out = [];
  for (let i = 0; i < count; i++) {
    const events = rows.slice(i * perPost, (i + 1) * perPost).map((r) => ({
      event_type: r.eventType,
      level: r.level,
      message: r.message,
      data: r.data,
    }));
    out.push(Buffer.from(JSON.stringify(perPost === 1 ? events[0] : { events })));
  }
  return out;
}

/** `concurrency` clients POST as fast as answers come, for `seconds` after a warm-up. */
async function closedLoop(base, bodyList, { concurrency, seconds, warmupSeconds = 0, runs = 16 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const runIds = Array.from(
    { length: runs },
    (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  );
  let i = 0;
  let ok = 0;
  let failed = 0;
  const latencies = [];
  const warmEnd = nowMs() + warmupSeconds * 1000;
  const end = warmEnd + seconds * 1000;
  const worker = async () => {
    for (;;) {
      const t0 = nowMs();
      if (t0 >= end) return;
      const n = i++;
      const status = await postOnce(
        agent,
        base,
        `/runs/${runIds[n % runs]}/logs`,
        bodyList[n % bodyList.length],
      );
      const t1 = nowMs();
      if (t0 >= warmEnd) {
        if (status === 201) {
          ok++;
          latencies.push(t1 - t0);
        } else failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { requestsPerSecond: ok / seconds, failed, latency: summary(latencies) };
}

/** CPU seconds so far of process `pid`; 0 once it is gone. */
const cpuSecondsOf = (pid) => cpuSeconds(pid) ?? 0;

/** CPU seconds so far of the API process and of every PostgreSQL backend serving `datname`. */
async function cpuNow(apiPid, datname) {
  const { rows } = await withDb(ADMIN_URL, (c) =>
    c.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`, [
      datname,
    ]),
  );
  const db = new Map(rows.map((r) => [r.pid, cpuSecondsOf(r.pid)]));
  return { api: cpuSecondsOf(apiPid), db };
}

function cpuSince(before, after) {
  let db = 0;
  for (const [pid, s] of after.db) db += s - (before.db.get(pid) ?? 0);
  return { api: after.api - before.api, db };
}

/**
 * What computing the id adds per event, in this process: prepareRunLogInsert (what `--event-ids auto`
 * does with an event) less JSON.stringify of its data (what `off` does instead), on the same events.
 */
function computeMicrosPerEvent(bodyList) {
  const events = bodyList.flatMap((b) => {
    const v = JSON.parse(b);
    return (v.events ?? [v]).map((e) => ({
      run_id: '00000000-0000-4000-8000-000000000001',
      event_type: e.event_type,
      level: e.level,
      message: e.message,
      data: e.data,
    }));
  });
  const time = (fn) => {
    let best = Number.POSITIVE_INFINITY;
    for (let rep = 0; rep < 5; rep++) {
      const t0 = performance.now();
      for (const e of events) fn(e);
      best = Math.min(best, performance.now() - t0);
    }
    return (best * 1000) / events.length;
  };
  const withId = time((e) => prepareRunLogInsert(e));
  const without = time((e) => JSON.stringify(e.data));
  return Math.max(0, withId - without);
}

/**
 * POST throughput with and without the event_id computation, side by side: for each shape (events per
 * POST), four samples in the order off, auto, auto, off, each on a fresh database, with the CPU the
 * write path spent (the API process and its PostgreSQL backends) per event.
 *
 * Two answers: the throughput ratio (auto against off) is the whole cost of ids on the write path —
 * computing each id, and storing and indexing a random UUID where `off` stores NULL (a NULL goes to the
 * rightmost leaf of ix_run_logs_event_id, a UUID anywhere in it). The computation alone is measured
 * as CPU: what computing takes per event, against the write path's CPU per event.
 */
export async function benchApiPost({ seconds = 6, concurrency = 16, shapes = [1, 100] } = {}) {
  const results = [];
  for (const perPost of shapes) {
    const list = bodies(perPost === 1 ? 2000 : 200, perPost, 3);
    const samples = { auto: [], off: [] };
    for (const mode of ['off', 'auto', 'auto', 'off']) {
      const name = 'bf_bench_api_post';
      const url = await migratedDb(name);
      await admin('CHECKPOINT');
      const api = await startApiProcess(url, ['--event-ids', mode]);
      try {
        await closedLoop(api.base, list, { concurrency, seconds: 1 }); // warm-up
        const before = await cpuNow(api.pid, name);
        const r = await closedLoop(api.base, list, { concurrency, seconds });
        const cpu = cpuSince(before, await cpuNow(api.pid, name));
        if (r.failed > 0) throw new Error(`${r.failed} POSTs failed (${mode})`);
        const events = r.requestsPerSecond * perPost * seconds;
        samples[mode].push({
          ...r,
          eventsPerSecond: r.requestsPerSecond * perPost,
          apiMicrosPerEvent: (cpu.api * 1e6) / events,
          dbMicrosPerEvent: (cpu.db * 1e6) / events,
        });
        log(`POST ×${perPost} --event-ids ${mode}: ${fmt(r.requestsPerSecond * perPost)} events/s`);
      } finally {
        await api.stop();
        await dropDb(name);
      }
    }
    const mean = (xs, k) => xs.reduce((t, x) => t + x[k], 0) / xs.length;
    const withIds = mean(samples.auto, 'eventsPerSecond');
    const without = mean(samples.off, 'eventsPerSecond');
    const cpuWith = mean(samples.auto, 'apiMicrosPerEvent') + mean(samples.auto, 'dbMicrosPerEvent');
    const cpuWithout = mean(samples.off, 'apiMicrosPerEvent') + mean(samples.off, 'dbMicrosPerEvent');
    const compute = computeMicrosPerEvent(list);
    results.push({
      eventsPerPost: perPost,
      withEventIds: Math.round(withIds),
      withoutEventIds: Math.round(without),
      ratio: Math.round((withIds / without) * 1000) / 1000,
      cpuMicrosPerEventWith: Math.round(cpuWith * 10) / 10,
      cpuMicrosPerEventWithout: Math.round(cpuWithout * 10) / 10,
      computeMicrosPerEvent: Math.round(compute * 100) / 100,
      computeShare: Math.round((compute / cpuWith) * 1000) / 1000,
      p99WithMs: Math.max(...samples.auto.map((x) => x.latency.p99)),
      p99WithoutMs: Math.max(...samples.off.map((x) => x.latency.p99)),
      samples,
    });
  }
  return results;
}

/**
 * A minimal SSE client: the delay of each event from its insert (the row's `timestamp`, the INSERT's
 * transaction start on the server's clock, which is this machine's) and from just before its POST was
 * sent (`t` in its data: an upper bound that also counts the HTTP request).
 */
function sseClient(url, delays) {
  let buf = '';
  let opened;
  const ready = new Promise((r) => {
    opened = r;
  });
  const req = http.get(url, { agent: false }, (res) => {
    res.setEncoding('utf8');
    opened();
    res.on('data', (chunk) => {
      buf += chunk;
      let end = buf.indexOf('\n\n');
      while (end >= 0) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const m = /"timestamp":"([^"]+)".*"t":([0-9.]+)/.exec(frame);
        if (m) {
          const now = nowMs();
          delays.fromInsert.push(now - Date.parse(m[1]));
          delays.fromSend.push(now - Number(m[2]));
        }
        end = buf.indexOf('\n\n');
      }
    });
  });
  req.on('error', () => {});
  return { ready, close: () => req.destroy() };
}

/**
 * `clients` SSE clients on one API process, spread over `runs` runs, while one writer posts
 * `eventsPerSecond` events (in POSTs of `perPost`) for `seconds`.
 */
export async function benchApiFanout({
  clients = 1000,
  runs = 10,
  eventsPerSecond = 50,
  perPost = 5,
  seconds = 10,
} = {}) {
  const name = 'bf_bench_api_fanout';
  const url = await migratedDb(name);
  const api = await startApiProcess(url);
  const delays = { fromInsert: [], fromSend: [] };
  const conns = [];
  try {
    const runIds = Array.from(
      { length: runs },
      (_, i) => `0f0f0f0f-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    for (let i = 0; i < clients; i++)
      conns.push(sseClient(`${api.base}/runs/${runIds[i % runs]}/events`, delays));
    await Promise.all(conns.map((c) => c.ready));
    await sleep(1000); // every stream caught up and live
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const interval = (1000 * perPost) / eventsPerSecond;
    const end = nowMs() + seconds * 1000;
    const inflight = [];
    let n = 0;
    for (let next = nowMs(); next < end; next += interval) {
      const wait = next - nowMs();
      if (wait > 0) await sleep(wait);
      const t = nowMs();
      const body = Buffer.from(
        JSON.stringify({
          events: Array.from({ length: perPost }, (_, k) => ({
            event_type: 'bench.fanout',
            data: { t, k, n },
          })),
        }),
      );
      inflight.push(postOnce(agent, api.base, `/runs/${runIds[n++ % runs]}/logs`, body));
    }
    await Promise.all(inflight);
    await sleep(1000); // the last deliveries
    agent.destroy();
    const expected = n * perPost * (clients / runs);
    const fromInsert = summary(delays.fromInsert);
    return {
      clients,
      runs,
      eventsPerSecond,
      deliveries: delays.fromInsert.length,
      expected,
      ...fromInsert,
      fromSend: summary(delays.fromSend),
    };
  } finally {
    for (const c of conns) c.close();
    await api.stop();
    await dropDb(name);
  }
}

/** Open-loop POST load: `rate` POSTs a second (each `perPost` events) until `until()`; latencies. */
async function openLoop(base, { rate, perPost, until }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const list = bodies(200, perPost, 5);
  const latencies = [];
  const inflight = [];
  let failed = 0;
  let n = 0;
  for (let next = nowMs(); !until(); next += 1000 / rate) {
    const wait = next - nowMs();
    if (wait > 0) await sleep(wait);
    const i = n++;
    const t0 = nowMs();
    inflight.push(
      postOnce(
        agent,
        base,
        `/runs/00000000-0000-4000-8000-${String(i % 16).padStart(12, '0')}/logs`,
        list[i % list.length],
      ).then(
        (status) => {
          if (status === 201) latencies.push(nowMs() - t0);
          else failed++;
        },
        () => failed++,
      ),
    );
  }
  await Promise.all(inflight);
  agent.destroy();
  return { failed, ...summary(latencies) };
}

/** A standing worker process; `ready` once it says it started. */
function spawnWorker(env) {
  const p = spawn(process.execPath, [WORKER, '--poll-interval', '200ms'], {
    env: programEnv({ ...env, LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let buf = '';
  const ready = new Promise((resolve, reject) => {
    p.stderr.on('data', (d) => {
      buf += d;
      if (buf.includes('"msg":"worker started"')) resolve();
      if (buf.length > 1_000_000) buf = buf.slice(-1000);
    });
    p.on('exit', (code) => reject(new Error(`worker exited (${code}) before it started`)));
  });
  return {
    ready,
    stop: async () => {
      if (p.exitCode !== null) return;
      const exited = new Promise((r) => p.on('exit', r));
      p.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The API's POST latency under a steady load (open loop: `rate` POSTs of `perPost` events a second)
 * with no backfill for `seconds`, then beside `run --commit`, `run` throttled, and two workers, each
 * on a fresh copy of a table of `rows` legacy rows, measured for as long as the backfill runs.
 */
export async function benchApiBesideBackfill({
  rows = 600_000,
  rate = 100,
  perPost = 10,
  seconds = 8,
  maxRowsPerSecond = 30_000,
  redisUrl = 'redis://127.0.0.1:6379',
} = {}) {
  const template = 'bf_bench_api_template';
  await dropDb(template);
  await admin(`CREATE DATABASE "${template}"`);
  const turl = dbUrl(template);
  const pool = createPool(turl, { max: 2 });
  try {
    await insertDemoRows(pool, { rows });
  } finally {
    await pool.end();
  }
  await migrateUp({ databaseUrl: turl, index: 'concurrent', logger: silentLogger, ...DEFAULT_LOCK_POLICY });
  await withDb(turl, (c) => c.query('VACUUM ANALYZE run_logs'));
  const variants = [
    { name: 'no backfill' },
    { name: 'backfill run --commit', run: [] },
    {
      name: `backfill run --commit --max-rows-per-second ${maxRowsPerSecond}`,
      run: ['--max-rows-per-second', String(maxRowsPerSecond)],
    },
    { name: '2 workers', workers: 2 },
  ];
  const results = [];
  try {
    for (const v of variants) {
      const name = 'bf_bench_api_beside';
      const url = await copyOf(template, name);
      const api = await startApiProcess(url);
      const prefix = `bench-api-${process.pid}`;
      const env = { DATABASE_URL: url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' };
      // Workers stand before the run starts (as replicas do): their start-up is not measured.
      const fleet = Array.from({ length: v.workers ?? 0 }, () => spawnWorker(env));
      try {
        await Promise.all(fleet.map((w) => w.ready));
        const warm = nowMs() + 1500;
        await openLoop(api.base, { rate, perPost, until: () => nowMs() > warm });
        let done = false;
        let backfill = Promise.resolve();
        const t0 = nowMs();
        if (v.run) {
          backfill = cli(['run', '--commit', '--json', ...v.run], env).then((r) => {
            if (r.code !== 0) throw new Error(`run failed: ${r.stderr}`);
            done = true;
          });
        } else if (v.workers) {
          const started = await cli(['start', '--name', 'bench-api', '--commit', '--json'], env);
          if (started.code !== 0) throw new Error(`start failed: ${started.stderr}`);
          backfill = (async () => {
            for (;;) {
              const { rows: r } = await withDb(url, (c) =>
                c.query(`SELECT status FROM backfill_runs WHERE name = 'bench-api'`),
              );
              if (r[0]?.status === 'completed') break;
              await sleep(200);
            }
            done = true;
          })();
        } else {
          setTimeout(() => {
            done = true;
          }, seconds * 1000);
        }
        // Measured for as long as the backfill runs (at most two minutes).
        const load = await openLoop(api.base, { rate, perPost, until: () => done || nowMs() - t0 > 120_000 });
        const measuredSeconds = (nowMs() - t0) / 1000;
        await backfill;
        if (load.failed > 0) throw new Error(`${load.failed} POSTs failed beside ${v.name}`);
        results.push({ variant: v.name, seconds: Math.round(measuredSeconds * 10) / 10, ...load });
        log(
          `beside ${v.name}: p50 ${fmt(load.p50, 1)} ms, p99 ${fmt(load.p99, 1)} ms over ${fmt(measuredSeconds, 1)} s`,
        );
      } finally {
        for (const w of fleet) await w.stop();
        await api.stop();
        await dropDb(name);
      }
    }
  } finally {
    await dropDb(template);
  }
  return results;
}

/** Everything, printed with each target MET or MISSED. */
export async function benchApi({ quick = false } = {}) {
  const t0 = Date.now();
  log('POST throughput, with and without event_id computation');
  const post = await benchApiPost(quick ? { seconds: 3 } : {});
  log('fan-out: 1,000 SSE clients');
  const fanout = await benchApiFanout(quick ? { seconds: 5 } : {});
  log('the backfill beside the API under POST load');
  const beside = await benchApiBesideBackfill(quick ? { rows: 200_000 } : {});
  const targets = [
    ...post.map((p) => ({
      target: `POST ×${p.eventsPerPost}: computing event_id < 5% of the write path's CPU (API + PostgreSQL)`,
      met: p.computeShare < 0.05,
    })),
    { target: '1,000 SSE clients: p99 insert → delivery < 100 ms', met: fanout.p99 < 100 },
    {
      target: '1,000 SSE clients: every event delivered to every client',
      met: fanout.deliveries === fanout.expected,
    },
  ];
  return { post, fanout, beside, targets, seconds: Math.round((Date.now() - t0) / 1000) };
}

export function printApiBench(r, { targets = true } = {}) {
  const table = [
    ['measurement', 'value', 'note'],
    ...r.post.flatMap((p) => [
      [
        `POST, ${p.eventsPerPost} event${p.eventsPerPost > 1 ? 's' : ''} each`,
        `${fmt(p.withEventIds)} / ${fmt(p.withoutEventIds)} events/s`,
        `with / without event_id: ${p.ratio} × (computing + storing + indexing it); p99 ${fmt(p.p99WithMs, 1)} / ${fmt(p.p99WithoutMs, 1)} ms`,
      ],
      [
        '  CPU per event (API + PostgreSQL)',
        `${fmt(p.cpuMicrosPerEventWith, 1)} / ${fmt(p.cpuMicrosPerEventWithout, 1)} µs`,
        `computing the id: ${fmt(p.computeMicrosPerEvent, 2)} µs = ${(p.computeShare * 100).toFixed(1)}% of the write path`,
      ],
    ]),
    [
      `SSE fan-out, ${fmt(r.fanout.clients)} clients, insert → delivery`,
      `p50 ${fmt(r.fanout.p50, 1)} ms, p99 ${fmt(r.fanout.p99, 1)} ms, max ${fmt(r.fanout.max, 1)} ms`,
      `${fmt(r.fanout.deliveries)} of ${fmt(r.fanout.expected)} deliveries; ${r.fanout.eventsPerSecond} events/s over ${r.fanout.runs} runs`,
    ],
    [
      '  POST sent → delivery',
      `p50 ${fmt(r.fanout.fromSend.p50, 1)} ms, p99 ${fmt(r.fanout.fromSend.p99, 1)} ms`,
      'counts the HTTP request and the INSERT too',
    ],
    ...r.beside.map((b) => [
      `POST p50 / p99, ${b.variant}`,
      `${fmt(b.p50, 1)} / ${fmt(b.p99, 1)} ms`,
      `${fmt(b.n)} POSTs over ${b.seconds} s`,
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => String(row[i]).length)));
  for (const row of table)
    process.stdout.write(`${row.map((c, i) => String(c).padEnd(widths[i])).join('  ')}\n`);
  if (!targets) return;
  process.stdout.write('\n');
  for (const t of r.targets) process.stdout.write(`${t.met ? 'MET   ' : 'MISSED'} ${t.target}\n`);
  process.stdout.write(`\n(${r.seconds}s)\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const r = await benchApi({ quick: values.quick });
  printApiBench(r);
  process.exit(0);
}
