// Input limits shared by generation and insertion, so both reject a bad seed with the same message and
// the CLI can quote the same row ceiling.

import { UsageError } from '@backfill/engine/errors';

export const DEMO_MAX_ROWS = 100_000_000;
export const DEMO_DEFAULT_BATCH_ROWS = 10_000;

export function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new UsageError(`seed must be a whole number, got ${seed}`);
}
