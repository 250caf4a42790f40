// Sparse ids: clusters of consecutive ids of very different sizes separated by gaps of very different
// lengths (both log-uniform), averaging ~10^4 ids of key space per row: 1M rows reach ~10^10. This is
// what long-lived production tables look like after deletes and imports, and what shard planning must
// cope with.

import { hash32, mulberry32 } from './prng.js';

const CLUSTER_MAX = 5000; // rows; log-uniform on [1, CLUSTER_MAX], mean ≈ 587
const GAP_MAX = 110_000_000; // ids; log-uniform on [1, GAP_MAX], mean ≈ 5.9M ≈ 10^4 × mean cluster

/** Yields ascending ids greater than `after`, deterministic for a seed. */
export function sparseIdAllocator(seed: number, after: number): () => number {
  const r = mulberry32(hash32(seed, 0x53504152));
  let next = after + 1;
  let left = 0;
  return () => {
    if (left === 0) {
      left = Math.floor(Math.exp(r() * Math.log(CLUSTER_MAX + 1)));
      if (next > after + 1) next += Math.floor(Math.exp(r() * Math.log(GAP_MAX)));
    }
    left--;
    return next++;
  };
}
