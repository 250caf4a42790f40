// The addressable row sequence: row i depends only on (seed, i), so the insert path and callers of
// generateDemoRows can each produce any slice of it and get identical rows.

import { UsageError } from '@backfill/engine/errors';
import { checkSeed } from './limits.js';
import { hash32, hashIndex, mulberry32 } from './prng.js';
import { rowAt } from './row.js';
import { LANES, type Run, runFor } from './runs.js';
import type { DemoRow, GenerateOptions, RawRow } from './types.js';

/** Row generator for one seed; caches the current run of each lane (rows of a run are close together). */
export function rowGenerator(seed: number): (index: number) => RawRow {
  const offsets = LANES.map(({ span }, lane) => hash32(seed, 0x4c414e45, lane) % span);
  const seedHash = hash32(seed);
  const cache = LANES.map(() => ({ runNo: -1, run: undefined as Run | undefined }));
  return (index) => {
    const r = mulberry32(hashIndex(seedHash, index));
    let lane = LANES.length - 1;
    let x = r();
    for (let l = 0; l < LANES.length; l++) {
      x -= LANES[l]!.share;
      if (x < 0) {
        lane = l;
        break;
      }
    }
    const runNo = Math.floor((index + offsets[lane]!) / LANES[lane]!.span);
    const slot = cache[lane]!;
    if (slot.runNo !== runNo || !slot.run) {
      slot.runNo = runNo;
      slot.run = runFor(seed, lane, runNo);
    }
    return rowAt(r, index, slot.run);
  };
}

/** `count` rows starting at row `startIndex` of the sequence determined by `seed`. */
export function generateDemoRows(count: number, options: GenerateOptions = {}): DemoRow[] {
  const seed = options.seed ?? 1;
  const startIndex = options.startIndex ?? 0;
  checkSeed(seed);
  if (!Number.isSafeInteger(count) || count < 0) throw new UsageError(`count must be a whole number ≥ 0`);
  if (!Number.isSafeInteger(startIndex) || startIndex < 0) {
    throw new UsageError(`startIndex must be a whole number ≥ 0`);
  }
  const row = rowGenerator(seed);
  const rows = new Array<DemoRow>(count);
  for (let i = 0; i < count; i++) {
    const x = row(startIndex + i);
    rows[i] = {
      runId: x.runId,
      timestamp: new Date(x.ms),
      level: x.level,
      eventType: x.eventType,
      message: x.message,
      data: x.data,
    };
  }
  return rows;
}
