// Deterministic randomness: every row has its own mulberry32 stream seeded from (seed, index), so any
// slice of the sequence can be generated without generating what comes before it. Every constant here
// is baked into the rows other code expects, so none of them may change.

export type Rng = () => number;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of a list of safe integers (each split into its low and high 32 bits). */
export function hash32(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    const lo = p >>> 0;
    const hi = Math.floor(p / 0x1_0000_0000) >>> 0;
    h = fmix32(Math.imul(h ^ lo, 0x01000193) + 0x7f4a7c15);
    h = fmix32(Math.imul(h ^ hi, 0x01000193) + 0x6a09e667);
  }
  return h;
}

/** The per-row stream's seed from hash32(seed) and the row index: hash32's mixing without its rest array. */
export function hashIndex(seedHash: number, index: number): number {
  const h = fmix32(Math.imul(seedHash ^ (index >>> 0), 0x01000193) + 0x7f4a7c15);
  return fmix32(Math.imul(h ^ (Math.floor(index / 0x1_0000_0000) >>> 0), 0x01000193) + 0x6a09e667);
}

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
