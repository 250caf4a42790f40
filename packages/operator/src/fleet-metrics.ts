// The fleet's state as Prometheus gauges, from the live feed's snapshot (the ledger), in the dashboard
// process: runs by status, each run's shards by status, rows done, left and per second, the gates
// holding it, live workers. Labels: run and status/gate only (bounded: no shard label).
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Snapshot } from './live-feed.js';

export function fleetMetrics(): { registry: Registry; update: (s: Snapshot) => void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const g = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const runs = g('backfill_runs', 'Runs in the ledger by status', ['status']);
  const shards = g('backfill_run_shards', 'Shards of a run by status', ['run', 'status']);
  const updated = g('backfill_run_rows_updated', 'Rows a run has written', ['run']);
  const remaining = g('backfill_run_rows_remaining', 'Rows a run has left (estimated)', ['run']);
  const rate = g('backfill_run_rows_per_second', 'Rows per second over the last minute', ['run']);
  const eta = g('backfill_run_eta_seconds', 'Estimated seconds left (-1 when unknown)', ['run']);
  const held = g('backfill_run_shards_held', 'Shards of a run held by a gate now', ['run', 'gate']);
  const workers = g('backfill_workers_alive', 'Worker processes heard from in the last 15 s');
  const update = (s: Snapshot) => {
    for (const m of [runs, shards, updated, remaining, rate, eta, held]) m.reset();
    const byStatus = new Map<string, number>();
    for (const r of s.runs) {
      const name = r.run.name;
      byStatus.set(r.run.status, (byStatus.get(r.run.status) ?? 0) + 1);
      for (const [status, n] of Object.entries(r.progress.shards)) shards.set({ run: name, status }, n);
      updated.set({ run: name }, r.progress.rowsUpdated);
      remaining.set({ run: name }, Math.max(0, r.progress.estimatedRows - r.progress.rowsUpdated));
      rate.set({ run: name }, r.rowsPerSecondLastMinute);
      eta.set({ run: name }, r.etaSeconds ?? -1);
      const gates = new Map<string, number>();
      for (const h of r.holds) gates.set(h.gate, (gates.get(h.gate) ?? 0) + 1);
      for (const [gate, n] of gates) held.set({ run: name, gate }, n);
    }
    for (const [status, n] of byStatus) runs.set({ status }, n);
    workers.set(s.workers.filter((w) => w.ageSeconds <= 15).length);
  };
  return { registry, update };
}
