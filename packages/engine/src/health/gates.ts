// Health gates: whether the backfill may write its next batch, from one sample of the database's health
// (probes.ts, cached per process by the monitor) and the run's settings. Pure: (settings, sample, state,
// now) → decision. Every gate has a setting, a default and an off value; a holding gate says which one,
// its value, its threshold and why.
import { parseWindow, windowState } from './window.js';

/** The run settings the gates read (a slice of RunSettings). */
export interface GateSettings {
  /** Replay lag of any standby above this holds; 0 = off. */
  gateReplicationLagMs: number;
  /** A session waiting on a lock the backfill holds for longer than this holds; 0 = off. */
  gateLockWaitMs: number;
  /** The oldest open transaction in the database older than this holds; 0 = off. */
  gateTransactionAgeMs: number;
  /** Autovacuum working on the target table holds (an anti-wraparound one always does). */
  gateAutovacuum: boolean;
  /** WAL written per second (by everyone) above this budget holds; 0 = off. */
  gateWalBytesPerSecond: number;
  /** An operator's probe: SELECT hold::boolean, reason::text; null = none. */
  gateSql: string | null;
  /** "HH:MM-HH:MM": outside it the backfill holds; null = always open. */
  window: string | null;
  timezone: string;
}

/** One sample of the database's health, as the probes read it. */
export interface HealthSample {
  at: number;
  /** Greatest replay lag over the standbys, ms (0 with none). */
  replicationLagMs: number;
  /** Longest wait of a session blocked by a backfill session, ms (0 with none). */
  lockWaitMs: number;
  /** Age of the oldest open transaction (not the backfill's), ms. */
  oldestTransactionMs: number;
  /** Autovacuum on the target table: null when none runs. */
  autovacuum: { wraparound: boolean } | null;
  /** pg_current_wal_lsn() as a byte position, to turn into a rate between samples. */
  walLsnBytes: number;
  /** The operator probe's answer (keyed by its SQL), when one is configured. */
  probes: Record<string, { hold: boolean; reason: string }>;
}

export type GateName =
  | 'replication_lag'
  | 'lock_waits'
  | 'transaction_age'
  | 'autovacuum'
  | 'wal_rate'
  | 'sql_probe'
  | 'window';

export interface Hold {
  gate: GateName;
  /** The measured value and the threshold, in the gate's unit (ms, bytes/s), as text for people. */
  value: string;
  threshold: string;
  reason: string;
  /** Window only: when it opens (ISO 8601). */
  until?: string;
  /** When asking again can first make sense (a WAL bucket refilled), ms; the caller backs off otherwise. */
  retryInMs?: number;
}

export type GateDecision = { hold: false } | ({ hold: true } & Hold);

/**
 * The WAL budget as a token bucket over the database's own WAL: tokens refill at the budget, every
 * byte written (by anyone) takes one, at most one second's worth is saved up. Empty: hold. Kept per run
 * by the caller between samples.
 */
export interface WalBucket {
  tokens: number;
  lastLsn: number;
  lastAt: number;
}

const ms = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}s` : `${Math.round(n)}ms`);
const bytesPerSecond = (n: number) =>
  n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB/s` : `${Math.round(n / 1024)} KB/s`;

/** Moves the WAL bucket on by one sample; returns the WAL rate seen since the last sample. */
export function advanceWalBucket(bucket: WalBucket, budget: number, sample: HealthSample): number {
  const dt = Math.max(0, (sample.at - bucket.lastAt) / 1000);
  const written = Math.max(0, sample.walLsnBytes - bucket.lastLsn);
  if (dt > 0 || written > 0) {
    bucket.tokens = Math.min(budget, bucket.tokens + budget * dt) - written;
    bucket.lastLsn = sample.walLsnBytes;
    bucket.lastAt = sample.at;
  }
  return dt > 0 ? written / dt : 0;
}

/**
 * The bucket's tokens at `nowMs`: refilled for the time since its last sample (the WAL written since is
 * charged when the next sample comes), so a hold ends when the budget says, not at the next sample.
 */
export function projectedTokens(bucket: WalBucket, budget: number, nowMs: number): number {
  const dt = Math.max(0, (nowMs - bucket.lastAt) / 1000);
  return Math.min(budget, bucket.tokens + budget * dt);
}

export function newWalBucket(budget: number, sample: HealthSample): WalBucket {
  return { tokens: budget, lastLsn: sample.walLsnBytes, lastAt: sample.at };
}

/**
 * The first gate that holds, in order of how much it matters (an anti-wraparound vacuum and the
 * operator's own window and probe first), or go. `wal` is the run's bucket, already advanced to `sample`.
 */
export function evaluateGates(
  s: GateSettings,
  sample: HealthSample,
  wal: { bucket: WalBucket; rate: number } | null,
  now: Date,
): GateDecision {
  if (sample.autovacuum?.wraparound) {
    return {
      hold: true,
      gate: 'autovacuum',
      value: 'anti-wraparound vacuum running',
      threshold: 'always holds',
      reason: 'an anti-wraparound autovacuum is working on the table: it always goes first',
    };
  }
  if (s.window) {
    const w = parseWindow(s.window);
    if (w) {
      const state = windowState(w, s.timezone, now);
      if (!state.open)
        return {
          hold: true,
          gate: 'window',
          value: now.toISOString(),
          threshold: `${s.window} ${s.timezone}`,
          reason: `outside the window ${s.window} (${s.timezone}); it opens at ${state.nextChange}`,
          until: state.nextChange,
          retryInMs: Math.max(0, Date.parse(state.nextChange) - now.getTime()),
        };
    }
  }
  if (s.gateSql) {
    const probe = sample.probes[s.gateSql];
    if (probe?.hold)
      return {
        hold: true,
        gate: 'sql_probe',
        value: 'hold',
        threshold: 'probe says go',
        reason: probe.reason,
      };
  }
  if (s.gateReplicationLagMs > 0 && sample.replicationLagMs > s.gateReplicationLagMs) {
    return {
      hold: true,
      gate: 'replication_lag',
      value: ms(sample.replicationLagMs),
      threshold: ms(s.gateReplicationLagMs),
      reason: `a standby replays ${ms(sample.replicationLagMs)} behind (limit ${ms(s.gateReplicationLagMs)})`,
    };
  }
  if (s.gateLockWaitMs > 0 && sample.lockWaitMs > s.gateLockWaitMs) {
    return {
      hold: true,
      gate: 'lock_waits',
      value: ms(sample.lockWaitMs),
      threshold: ms(s.gateLockWaitMs),
      reason: `a session has waited ${ms(sample.lockWaitMs)} for a lock the backfill holds (limit ${ms(s.gateLockWaitMs)})`,
    };
  }
  if (s.gateTransactionAgeMs > 0 && sample.oldestTransactionMs > s.gateTransactionAgeMs) {
    return {
      hold: true,
      gate: 'transaction_age',
      value: ms(sample.oldestTransactionMs),
      threshold: ms(s.gateTransactionAgeMs),
      reason:
        `a transaction has been open for ${ms(sample.oldestTransactionMs)} (limit ${ms(s.gateTransactionAgeMs)}): ` +
        'dead rows the backfill leaves cannot be vacuumed behind it',
    };
  }
  if (s.gateAutovacuum && sample.autovacuum) {
    return {
      hold: true,
      gate: 'autovacuum',
      value: 'autovacuum running',
      threshold: 'holds while it runs',
      reason: 'autovacuum is working on the table',
    };
  }
  const tokens = wal ? projectedTokens(wal.bucket, s.gateWalBytesPerSecond, now.getTime()) : 0;
  if (s.gateWalBytesPerSecond > 0 && wal && tokens < 0) {
    return {
      hold: true,
      gate: 'wal_rate',
      value: bytesPerSecond(wal.rate),
      threshold: bytesPerSecond(s.gateWalBytesPerSecond),
      reason: `WAL is being written at ${bytesPerSecond(wal.rate)} (budget ${bytesPerSecond(s.gateWalBytesPerSecond)})`,
      retryInMs: Math.ceil((-tokens / s.gateWalBytesPerSecond) * 1000),
    };
  }
  return { hold: false };
}

/**
 * How long to wait before asking the gates again while one holds: the hold's own hint when it has one
 * (a WAL bucket's refill time), else a back-off that grows with the time held; 0.75–1.25 × that (jitter
 * keeps a fleet from asking in step), at most `capMs`, so a pause or a cleared gate is seen soon.
 */
export function holdBackoffMs(
  hold: Hold,
  heldForMs: number,
  random: () => number = Math.random,
  capMs = 2000,
): number {
  const base = Math.min(capMs, hold.retryInMs ?? 250 + heldForMs / 4);
  return Math.max(10, Math.round(base * (0.75 + random() / 2)));
}
