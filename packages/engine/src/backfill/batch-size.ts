// Adaptive batch size: each batch's write should take about `targetMs` (like pt-online-schema-change's
// --chunk-time), so a batch holds its row locks for a bounded time whatever the rows cost, and the size
// follows the database as its load changes. Pure: (policy, size, observation) → next size.
//
// - a timeout (lock or statement) or a batch slower than twice the target: halve;
// - a batch faster than 0.8 × target: grow by at most GROWTH (slowly: one slow batch costs more than
//   many fast ones gain), and never past the size the last batch's own rate says would fit the target;
// - in between: keep.
// Always within [min, max]. targetMs 0 turns it off: the size stays where the operator set it, apart
// from halving on timeouts and growing back to the set size after clean batches.

export interface BatchSizePolicy {
  /** Target duration of one batch's write, ms; 0 = fixed size. */
  targetMs: number;
  min: number;
  max: number;
  /** The operator's size: the start, and with targetMs 0 the size to come back to after timeouts. */
  initial: number;
}

export type BatchObservation = { outcome: 'ok'; rows: number; ms: number } | { outcome: 'timeout' };

export const GROWTH = 1.2;
const FAST = 0.8;
const SLOW = 2;

const clamp = (n: number, p: BatchSizePolicy) => Math.max(p.min, Math.min(p.max, Math.round(n)));

export function nextBatchSize(p: BatchSizePolicy, size: number, obs: BatchObservation): number {
  if (obs.outcome === 'timeout') return clamp(Math.floor(size / 2), p);
  if (p.targetMs <= 0) {
    // Fixed size: only come back (slowly) from a timeout's halving.
    return size >= p.initial ? clamp(p.initial, p) : clamp(Math.min(p.initial, size * GROWTH), p);
  }
  if (obs.ms > SLOW * p.targetMs) return clamp(Math.floor(size / 2), p);
  if (obs.ms < FAST * p.targetMs && obs.rows >= size) {
    // A short batch (the end of the range) says nothing about speed.
    const fits = obs.ms > 0 ? (obs.rows / obs.ms) * p.targetMs : Number.POSITIVE_INFINITY;
    return clamp(Math.max(size, Math.min(size * GROWTH, fits)), p);
  }
  return clamp(size, p);
}

/** The policy's size to start with. */
export const firstBatchSize = (p: BatchSizePolicy) => clamp(p.initial, p);

/** The policy a run's settings describe. */
export function batchPolicyOf(s: {
  batchSize: number;
  targetBatchMs: number;
  minBatchSize: number;
  maxBatchSize: number;
}): BatchSizePolicy {
  if (s.targetBatchMs <= 0) {
    // Fixed: the operator's size, which a timeout may halve down to minBatchSize (or to itself).
    return {
      targetMs: 0,
      min: Math.min(s.minBatchSize, s.batchSize),
      max: s.batchSize,
      initial: s.batchSize,
    };
  }
  return {
    targetMs: s.targetBatchMs,
    min: Math.min(s.minBatchSize, s.maxBatchSize),
    max: s.maxBatchSize,
    initial: s.batchSize,
  };
}
