// The operator plane at scale: a ledger with 10,000 shards and 20 workers' heartbeats. The run page's
// API (the status read model) must answer in p99 < 100 ms, and the live feed's database work must not
// grow with the number of open pages (one poller for all): database transactions per second with 1 open
// page and with 50, side by side.
import { closeControl, openControl } from '@backfill/control';
import { silentLogger } from '@backfill/engine/logger';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import { buildDashboard } from '@backfill/operator';
import { admin, dbUrl, dropDb, withDb } from './lib.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function syntheticLedger(url, shards, workers) {
  await withDb(url, async (c) => {
    await c.query(
      `INSERT INTO backfill_runs (id, name, queue, table_name, event_id_version, status, from_id, to_id, shard_rows, planner,
                                  estimated_rows, settings, started_at)
       VALUES (1, 'bench', 'run-1-bench', 'run_logs', 1, 'running', 1, $1, 100000, 'histogram', $1, '{}', now() - interval '1 hour')`,
      [shards * 100_000],
    );
    await c.query(
      `INSERT INTO backfill_shards (run_id, shard_no, from_id, to_id, estimated_rows, status, rows_updated, checkpoint_id, worker, batch_size)
       SELECT 1, g, g * 100000 + 1, (g + 1) * 100000, 100000,
              (ARRAY['completed','completed','completed','queued','running','failed'])[1 + g % 6],
              CASE WHEN g % 6 < 3 THEN 100000 ELSE 0 END,
              CASE WHEN g % 6 < 3 THEN (g + 1) * 100000 ELSE NULL END,
              'w' || (g % $2), 5000
         FROM generate_series(0, $1 - 1) g`,
      [shards, workers],
    );
    await c.query(
      `INSERT INTO backfill_shard_events (run_id, shard_no, from_status, to_status, worker, error_class, message)
       SELECT 1, g, 'running', 'failed', 'w1', 'BadRowError', 'row id 5: data: nope' FROM generate_series(0, $1 - 1, 60) g`,
      [shards],
    );
    for (let w = 0; w < workers; w++) {
      const info = {
        host: `host-${w}`,
        pid: 1000 + w,
        runs: [1],
        shards: [0, 1].map((k) => ({
          runId: 1,
          shardNo: w * 6 + 4 + k,
          batchSize: 5000,
          rowsUpdated: 1234,
          since: new Date().toISOString(),
          held: null,
        })),
        databaseReachable: true,
      };
      await c.query(
        `INSERT INTO backfill_workers (worker_id, started_at, heartbeat_at, info) VALUES ($1, now(), now(), $2)`,
        [`w${w}`, JSON.stringify(info)],
      );
    }
  });
}

async function transactions(url, name) {
  return withDb(url, async (c) =>
    Number(
      (
        await c.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1', [
          name,
        ])
      ).rows[0].n,
    ),
  );
}

/** Opens `n` live pages (SSE clients) for `ms`; returns the database's transactions per second meanwhile. */
async function feedCost(address, url, name, n, ms) {
  const controllers = Array.from({ length: n }, () => new AbortController());
  const streams = controllers.map((ac) =>
    fetch(`${address}/api/stream`, { signal: ac.signal })
      .then(async (res) => {
        const reader = res.body.getReader();
        for (;;) if ((await reader.read()).done) return;
      })
      .catch(() => {}),
  );
  await sleep(1500); // every page connected and the feed ticking
  const t0 = await transactions(url, name);
  await sleep(ms);
  const t1 = await transactions(url, name);
  for (const ac of controllers) ac.abort();
  await Promise.all(streams);
  return ((t1 - t0) / ms) * 1000;
}

export async function benchDashboard({ shards = 10_000, workers = 20 } = {}) {
  const name = 'bf_bench_dashboard';
  await dropDb(name);
  await admin(`CREATE DATABASE "${name}"`);
  const url = dbUrl(name);
  await migrateUp({ databaseUrl: url, index: 'defer', logger: silentLogger, ...DEFAULT_LOCK_POLICY });
  await syntheticLedger(url, shards, workers);
  const ctx = await openControl({
    databaseUrl: url,
    redisUrl: 'redis://127.0.0.1:6379',
    prefix: `bench-dash-${process.pid}`,
    logger: silentLogger,
  });
  const app = await buildDashboard({ ctx, token: null, queueView: false, feedIntervalMs: 1000 });
  try {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const time = async (path, n) => {
      const ms = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const res = await fetch(`${address}${path}`);
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${path}: ${res.status}`);
        ms.push(performance.now() - t0);
      }
      return { p50: Math.round(pct(ms, 50) * 10) / 10, p99: Math.round(pct(ms, 99) * 10) / 10 };
    };
    await time('/api/runs/bench', 10); // warm up
    const runPage = await time('/api/runs/bench', 300);
    const shardMap = await time('/api/runs/bench/map', 100);
    const shardPage = await time('/api/runs/bench/shards?status=failed&limit=100', 100);
    const onePage = await feedCost(address, url, name, 1, 5000);
    const fiftyPages = await feedCost(address, url, name, 50, 5000);
    return {
      shards,
      workers,
      runPage,
      shardMap,
      shardPage,
      feedTransactionsPerSecond: {
        onePage: Math.round(onePage * 10) / 10,
        fiftyPages: Math.round(fiftyPages * 10) / 10,
      },
    };
  } finally {
    await app.close();
    await closeControl(ctx);
    await dropDb(name);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchDashboard();
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(
    `${r.runPage.p99 < 100 ? 'MET   ' : 'MISSED'} run page API p99 < 100 ms with ${r.shards} shards and ${r.workers} workers (${r.runPage.p99} ms)\n`,
  );
  const ratio = r.feedTransactionsPerSecond.fiftyPages / Math.max(0.1, r.feedTransactionsPerSecond.onePage);
  process.stdout.write(
    `${ratio <= 1.2 ? 'MET   ' : 'MISSED'} live feed database cost with 50 pages ≤ 1.2 × with 1 (${ratio.toFixed(2)})\n`,
  );
  process.exit(0);
}
