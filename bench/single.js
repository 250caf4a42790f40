// Issue 3 measurements: `run --commit` against the set-based SQL ceiling and a naive per-row client.
import { eventId } from '@backfill/shared/event-id';
import { startFaultProxy, viaProxy } from '../test-support/tcp-proxy.js';
import { ADMIN_URL, cli, copyOf, dropDb, withDb } from './lib.js';
import { startDbCpuSampler } from './pgcpu.js';

const NS = '5dd057ff-48ed-4ea7-998f-0816c58d51ff';

/**
 * `backfill run --commit` as an operator runs it; its JSON summary carries rows/s, db time and RSS.
 * `withoutEventIdStats`: event_id's planner statistics are removed first — the state of a real table
 * right after ADD COLUMN (other columns analyzed, the new one not), where a plain `event_id IS NULL`
 * makes every batch read every NULL left in the table.
 * `latencyMs`: every packet between `run` and PostgreSQL is held this long each way (a TCP proxy), as
 * for a backfill running in another zone than its database: a round trip costs 2 × latencyMs.
 */
export async function benchRun(
  template,
  rows,
  { withoutEventIdStats = false, latencyMs = 0, args = [] } = {},
) {
  const url = await copyOf(template, 'bf_bench_run');
  let proxy;
  try {
    if (withoutEventIdStats) {
      await withDb(url, (c) =>
        c.query(
          `DELETE FROM pg_statistic WHERE starelid = 'run_logs'::regclass AND staattnum =
             (SELECT attnum FROM pg_attribute WHERE attrelid = 'run_logs'::regclass AND attname = 'event_id')`,
        ),
      );
    }
    let target = url;
    if (latencyMs > 0) {
      const u = new URL(url);
      proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || 5432) });
      proxy.setMode({ kind: 'latency', ms: latencyMs });
      target = viaProxy(url, proxy);
    }
    const cpu = await startDbCpuSampler(ADMIN_URL, 'bf_bench_run');
    const res = await cli(['run', '--commit', '--json', ...args], { DATABASE_URL: target });
    const dbCpuSeconds = await cpu.stop();
    if (res.code !== 0) throw new Error(`run failed (${res.code}): ${res.stderr}`);
    const s = JSON.parse(res.stdout);
    if (s.rowsUpdated !== rows) throw new Error(`run updated ${s.rowsUpdated} of ${rows} rows`);
    return {
      rowsPerSecond: s.rowsPerSecond,
      seconds: s.seconds,
      dbMicrosPerRow: ((s.readMs + s.writeMs) * 1000) / rows,
      dbCpuMicrosPerRow: (dbCpuSeconds * 1e6) / rows,
      // The whole process, start-up included (about 0.3 s of CPU, 0.2 µs a row at 1.5M rows).
      nodeCpuMicrosPerRow: (s.cpuSeconds * 1e6) / rows,
      peakRssMb: s.peakRssMb,
    };
  } finally {
    await proxy?.close();
    await dropDb('bf_bench_run');
  }
}

/**
 * The database alone: one UPDATE per 20k-id range on one connection (or `connections` in parallel),
 * the id computed server-side by uuid_generate_v5 over a text expression (different ids; it measures
 * what the database itself can do).
 */
export async function benchSqlCeiling(template, maxId, connections = 1) {
  const name = `bf_bench_sql${connections}`;
  const url = await copyOf(template, name);
  try {
    await withDb(url, (c) => c.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'));
    const step = 20_000;
    const ranges = [];
    for (let lo = 0; lo < maxId; lo += step) ranges.push([lo, Math.min(maxId, lo + step)]);
    let statementMs = 0;
    let updated = 0;
    const cpu = await startDbCpuSampler(ADMIN_URL, name);
    const started = performance.now();
    const worker = async () => {
      await withDb(url, async (c) => {
        for (let r = ranges.shift(); r; r = ranges.shift()) {
          const t0 = performance.now();
          const res = await c.query(
            `UPDATE run_logs SET event_id = uuid_generate_v5($3::uuid,
               run_id::text || event_type || level || coalesce(message, '') || coalesce(data::text, ''))::text
             WHERE id > $1 AND id <= $2 AND event_id IS NULL`,
            [r[0], r[1], NS],
          );
          statementMs += performance.now() - t0;
          updated += res.rowCount;
        }
      });
    };
    await Promise.all(Array.from({ length: connections }, worker));
    const seconds = (performance.now() - started) / 1000;
    const dbCpuSeconds = await cpu.stop();
    return {
      rowsPerSecond: Math.round(updated / seconds),
      seconds,
      dbMicrosPerRow: (statementMs * 1000) / updated,
      dbCpuMicrosPerRow: (dbCpuSeconds * 1e6) / updated,
      updated,
    };
  } finally {
    await dropDb(name);
  }
}

/**
 * The naive client: read rows, then one autocommit UPDATE per row. Its speed is the commit latency
 * (a WAL flush per row), which wanders with whatever else the disk is doing, so it is sampled on
 * several slices spread over the table rather than one, and extrapolated to the whole table.
 */
export async function benchNaive(template, rows, maxId, { slices = 4, sliceRows = 1000 } = {}) {
  const url = await copyOf(template, 'bf_bench_naive');
  try {
    return await withDb(url, async (c) => {
      const rates = [];
      let done = 0;
      let seconds = 0;
      for (let s = 0; s < slices; s++) {
        const after = Math.floor((maxId * s) / slices);
        const started = performance.now();
        const { rows: batch } = await c.query(
          `SELECT id, run_id, event_type, level, message, data FROM run_logs
            WHERE id > $1 AND event_id IS NULL ORDER BY id LIMIT $2`,
          [after, sliceRows],
        );
        for (const row of batch) {
          await c.query('UPDATE run_logs SET event_id = $2 WHERE id = $1 AND event_id IS NULL', [
            row.id,
            eventId(row),
          ]);
        }
        const t = (performance.now() - started) / 1000;
        rates.push(Math.round(batch.length / t));
        done += batch.length;
        seconds += t;
      }
      const rowsPerSecond = Math.round(done / seconds);
      return { rowsPerSecond, slice: done, sliceRates: rates, extrapolatedSeconds: rows / rowsPerSecond };
    });
  } finally {
    await dropDb('bf_bench_naive');
  }
}
