// One health sample per table per probe interval for the whole process, however many shards and
// connections ask (a worker runs several shards; each asks before every batch): the first asker of an
// interval reads it, the others share that read. And the per-run gate state (the WAL bucket) between
// samples.
import type pg from 'pg';
import type { TableRef } from '../db.js';
import {
  advanceWalBucket,
  evaluateGates,
  type GateDecision,
  type GateSettings,
  type HealthSample,
  newWalBucket,
  type WalBucket,
} from './gates.js';
import { readHealthSample } from './probes.js';

/** How often the database's health is read, per process. */
export const DEFAULT_PROBE_INTERVAL_MS = 1000;
/**
 * How often the WAL position is read while a WAL budget is set: WAL is charged to the budget when it is
 * seen, so the longer between readings, the bigger each overshoot (and the hold that follows).
 */
export const WAL_PROBE_INTERVAL_MS = 100;

interface Cached {
  sample: HealthSample | null;
  reading: Promise<HealthSample> | null;
}

export class HealthMonitor {
  private readonly cache = new Map<string, Cached>();
  private wal: { at: number; bytes: number } | null = null;
  private walReading: Promise<{ at: number; bytes: number }> | null = null;
  /** Reads so far (tests check that shards share them). */
  reads = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly intervalMs = DEFAULT_PROBE_INTERVAL_MS,
  ) {}

  /** The latest sample for `table` (with these operator probes), read again once it is an interval old. */
  async sample(table: TableRef, probeSqls: readonly string[]): Promise<HealthSample> {
    const key = JSON.stringify([table.schema, table.name, [...probeSqls].sort()]);
    let entry = this.cache.get(key);
    if (!entry) {
      entry = { sample: null, reading: null };
      this.cache.set(key, entry);
    }
    if (entry.sample && Date.now() - entry.sample.at < this.intervalMs) return entry.sample;
    if (!entry.reading) {
      const e = entry;
      e.reading = this.read(table, probeSqls)
        .then((s) => {
          e.sample = s;
          return s;
        })
        .finally(() => {
          e.reading = null;
        });
    }
    return entry.reading!;
  }

  /** The WAL position (bytes), read at most every WAL_PROBE_INTERVAL_MS for the whole process. */
  async walPosition(): Promise<{ at: number; bytes: number }> {
    if (this.wal && Date.now() - this.wal.at < WAL_PROBE_INTERVAL_MS) return this.wal;
    this.walReading ??= (async () => {
      const client = await this.pool.connect();
      try {
        const { rows } = await client.query<{ b: number }>(
          `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS b`,
        );
        this.wal = { at: Date.now(), bytes: rows[0]!.b };
        return this.wal;
      } finally {
        client.release();
      }
    })().finally(() => {
      this.walReading = null;
    });
    return this.walReading;
  }

  private async read(table: TableRef, probeSqls: readonly string[]): Promise<HealthSample> {
    this.reads++;
    const client = await this.pool.connect();
    try {
      return await readHealthSample(client, table, probeSqls);
    } finally {
      client.release();
    }
  }
}

/** The gates of one run over the monitor's samples: keeps the run's WAL bucket between samples. */
export class RunGates {
  private wal: { bucket: WalBucket; rate: number; budget: number; at: number } | null = null;

  constructor(
    private readonly monitor: HealthMonitor,
    private readonly table: TableRef,
  ) {}

  async decide(settings: GateSettings, now = new Date()): Promise<GateDecision> {
    let sample = await this.monitor.sample(this.table, settings.gateSql ? [settings.gateSql] : []);
    if (settings.gateWalBytesPerSecond > 0) {
      const wal = await this.monitor.walPosition();
      sample = { ...sample, at: wal.at, walLsnBytes: wal.bytes };
    }
    return evaluateGates(settings, sample, this.walState(settings.gateWalBytesPerSecond, sample), now);
  }

  private walState(budget: number, sample: HealthSample) {
    if (budget <= 0) {
      this.wal = null;
      return null;
    }
    if (!this.wal || this.wal.budget !== budget) {
      this.wal = { bucket: newWalBucket(budget, sample), rate: 0, budget, at: sample.at };
    } else if (sample.at !== this.wal.at) {
      this.wal.rate = advanceWalBucket(this.wal.bucket, budget, sample);
      this.wal.at = sample.at;
    }
    return this.wal;
  }
}
