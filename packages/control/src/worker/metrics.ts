// A worker's Prometheus metrics (prom-client), and the health checks its orchestrator probes, on
// --metrics-port: /metrics, /healthz (the process answers: liveness), /readyz (it can work: reachable
// PostgreSQL, not shutting down). Labels: run and worker only (bounded: no shard label).
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly rows: Counter<'run'>;
  readonly batches: Counter<'run'>;
  readonly batchSeconds: Histogram<'run'>;
  readonly batchSize: Gauge<'run'>;
  readonly rateCap: Gauge<'run'>;
  readonly heldSeconds: Counter<'run' | 'gate'>;
  readonly held: Gauge<'run' | 'gate'>;
  readonly outcomes: Counter<'run' | 'outcome'>;
  readonly errors: Counter<'run' | 'class'>;
  readonly inFlight: Gauge;
  /** Read when scraped: how many of --concurrency slots are in use. */
  slotsInUse: () => number = () => 0;

  constructor(workerId: string) {
    const r = [this.registry];
    this.registry.setDefaultLabels({ worker: workerId });
    collectDefaultMetrics({ register: this.registry });
    this.rows = new Counter({
      name: 'backfill_rows_updated_total',
      help: 'Rows written',
      labelNames: ['run'],
      registers: r,
    });
    this.batches = new Counter({
      name: 'backfill_batches_total',
      help: 'Batches committed',
      labelNames: ['run'],
      registers: r,
    });
    this.batchSeconds = new Histogram({
      name: 'backfill_batch_duration_seconds',
      help: "A batch's write (UPDATE and checkpoint)",
      labelNames: ['run'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    });
    this.batchSize = new Gauge({
      name: 'backfill_batch_size',
      help: 'Current (adaptive) batch size',
      labelNames: ['run'],
      registers: r,
    });
    this.rateCap = new Gauge({
      name: 'backfill_rate_cap_rows_per_second',
      help: "The run's rate cap (0 = none)",
      labelNames: ['run'],
      registers: r,
    });
    this.heldSeconds = new Counter({
      name: 'backfill_gate_held_seconds_total',
      help: 'Time shards spent held, by gate',
      labelNames: ['run', 'gate'],
      registers: r,
    });
    this.held = new Gauge({
      name: 'backfill_shards_held',
      help: 'Shards held by a gate now',
      labelNames: ['run', 'gate'],
      registers: r,
    });
    this.outcomes = new Counter({
      name: 'backfill_shard_outcomes_total',
      help: 'How shard jobs ended',
      labelNames: ['run', 'outcome'],
      registers: r,
    });
    this.errors = new Counter({
      name: 'backfill_errors_total',
      help: 'Faults by error class',
      labelNames: ['run', 'class'],
      registers: r,
    });
    this.inFlight = new Gauge({
      name: 'backfill_shards_in_flight',
      help: 'Shards this worker works on now',
      registers: r,
    });
    const slots = () => this.slotsInUse();
    new Gauge({
      name: 'backfill_worker_slots_in_use',
      help: 'Shard slots in use (of --concurrency)',
      registers: r,
      collect() {
        this.set(slots());
      },
    });
  }
}

/** The metrics and health endpoints; `ready` says whether the worker can do work now. */
export function serveMetrics(
  metrics: WorkerMetrics,
  o: { host: string; port: number; ready: () => boolean },
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = o.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}
