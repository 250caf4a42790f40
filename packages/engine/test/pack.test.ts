// Shard packing without a database: cutting estimated pieces, the greedy packing rule at its edges, and
// histogram buckets turned into pieces. (plan-shards.test.ts checks the same functions as properties.)
import { bucketPieces, type Piece, packPieces, splitPiece } from '@backfill/engine/plan';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const est = (fromId: bigint, toId: bigint, rows: number): Piece => ({ fromId, toId, rows, exact: false });
const exact = (fromId: bigint, toId: bigint, rows: number): Piece => ({ fromId, toId, rows, exact: true });
/** Consecutive pieces of the given row counts, each `width` ids wide, from id 1. */
const row = (rows: number[], width = 100n, kind = exact): Piece[] =>
  rows.map((r, i) => kind(1n + BigInt(i) * width, BigInt(i + 1) * width, r));
const spans = (shards: Array<{ fromId: bigint; toId: bigint }>) => shards.map((s) => [s.fromId, s.toId]);

describe('splitPiece', () => {
  it('keeps exact pieces and pieces within the target whole', () => {
    const big = exact(1n, 1000n, 5000);
    expect(splitPiece(big, 100)).toEqual([big]);
    const fits = est(1n, 1000n, 100);
    expect(splitPiece(fits, 100)).toEqual([fits]);
  });

  it('cuts an estimated piece over the target into ceil(rows / target) parts of equal width and rows', () => {
    expect(splitPiece(est(1n, 1000n, 101), 100)).toEqual([est(1n, 500n, 50.5), est(501n, 1000n, 50.5)]);
    expect(splitPiece(est(10n, 18n, 900), 300)).toEqual([
      est(10n, 12n, 300),
      est(13n, 15n, 300),
      est(16n, 18n, 300),
    ]);
    // Widths that do not divide: parts differ by at most one id, and still cover the piece.
    expect(spans(splitPiece(est(0n, 9n, 31), 10))).toEqual([
      [0n, 1n],
      [2n, 4n],
      [5n, 6n],
      [7n, 9n],
    ]);
  });

  it('never makes more parts than the piece has ids', () => {
    expect(splitPiece(est(5n, 7n, 1000), 10)).toEqual([
      est(5n, 5n, 1000 / 3),
      est(6n, 6n, 1000 / 3),
      est(7n, 7n, 1000 / 3),
    ]);
    const one = est(42n, 42n, 1000);
    expect(splitPiece(one, 10)).toEqual([one]);
  });

  it('covers the piece with non-empty, contiguous parts that share its rows (any width, rows, target)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
        fc.oneof(fc.bigInt({ min: 1n, max: 12n }), fc.bigInt({ min: 1n, max: 10n ** 12n })),
        /** Rows in shard targets. */
        fc.double({ min: 0, max: 50, noNaN: true }),
        fc.integer({ min: 1, max: 100_000 }),
        (fromId, width, load, target) => {
          const rows = load * target;
          const p = est(fromId, fromId + width - 1n, rows);
          const parts = splitPiece(p, target);
          const wanted = rows <= target ? 1 : Math.ceil(rows / target);
          expect(parts.length).toBe(Math.min(wanted, Number(width)));
          expect(parts[0]!.fromId).toBe(p.fromId);
          expect(parts.at(-1)!.toId).toBe(p.toId);
          parts.forEach((x, i) => {
            expect(x.fromId <= x.toId).toBe(true);
            if (i > 0) expect(x.fromId).toBe(parts[i - 1]!.toId + 1n);
          });
          const sum = parts.reduce((s, x) => s + x.rows, 0);
          expect(Math.abs(sum - rows)).toBeLessThanOrEqual(rows * 1e-9);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('packPieces', () => {
  it('makes no shards of no pieces, and one shard of one piece', () => {
    expect(packPieces([], 100)).toEqual([]);
    expect(packPieces([exact(7n, 9n, 3)], 100)).toEqual([
      { shardNo: 0, fromId: 7n, toId: 9n, estimatedRows: 3 },
    ]);
  });

  it('takes the next piece while that brings the shard closer to the target', () => {
    // 60 + 30/2 < 100: the 30 joins; 90 + 20/2 = 100: the 20 starts the next shard.
    const shards = packPieces(row([60, 30, 20, 70]), 100);
    expect(shards.map((s) => s.estimatedRows)).toEqual([90, 90]);
    expect(spans(shards)).toEqual([
      [1n, 200n],
      [201n, 400n],
    ]);
    // 60 + 79/2 < 100 joins; 60 + 80/2 = 100 does not.
    expect(packPieces(row([60, 79]), 100).map((s) => s.estimatedRows)).toEqual([139]);
    expect(packPieces(row([60, 80]), 100).map((s) => s.estimatedRows)).toEqual([60, 80]);
  });

  it('folds a last shard under half the target into the one before it, and keeps one of exactly half', () => {
    expect(packPieces(row([100, 49]), 100).map((s) => s.estimatedRows)).toEqual([149]);
    expect(spans(packPieces(row([100, 49]), 100))).toEqual([[1n, 200n]]);
    expect(packPieces(row([100, 50]), 100).map((s) => s.estimatedRows)).toEqual([100, 50]);
    // A range that is all small stays one shard: there is nothing before it to join.
    expect(packPieces(row([10]), 100).map((s) => s.estimatedRows)).toEqual([10]);
  });

  it('lets gaps (pieces of no rows) go with the shard they fall in', () => {
    const shards = packPieces(row([0, 90, 0, 0, 90, 0]), 100);
    expect(spans(shards)).toEqual([
      [1n, 400n],
      [401n, 600n],
    ]);
    expect(shards.map((s) => s.estimatedRows)).toEqual([90, 90]);
  });

  it('numbers shards from 0 and rounds their estimates', () => {
    const shards = packPieces(row([33.4, 33.4, 33.4, 33.4, 33.4, 33.4], 10n, est), 100);
    expect(shards.map((s) => s.shardNo)).toEqual([0, 1]);
    expect(shards.map((s) => s.estimatedRows)).toEqual([100, 100]); // 100.2 each
  });

  it('cuts estimated pieces over the target before packing them', () => {
    const shards = packPieces([est(1n, 400n, 400)], 100);
    expect(spans(shards)).toEqual([
      [1n, 100n],
      [101n, 200n],
      [201n, 300n],
      [301n, 400n],
    ]);
  });
});

describe('bucketPieces', () => {
  it('gives each bucket its rows; the last bucket owns its upper bound', () => {
    expect(bucketPieces([0n, 10n, 20n, 40n], 50, 0n, 40n)).toEqual([
      est(0n, 9n, 50),
      est(10n, 19n, 50),
      est(20n, 40n, 50),
    ]);
  });

  it('clips the buckets to [lo, hi], with rows in proportion to the ids kept', () => {
    expect(bucketPieces([0n, 10n, 20n, 40n], 50, 5n, 29n)).toEqual([
      est(5n, 9n, 25),
      est(10n, 19n, 50),
      est(20n, 29n, 50 * (10 / 21)),
    ]);
    // Buckets wholly outside the range give nothing.
    expect(bucketPieces([0n, 10n, 20n, 40n], 50, 12n, 15n)).toEqual([est(12n, 15n, 20)]);
    expect(bucketPieces([0n, 10n, 20n, 40n], 50, 40n, 40n)).toEqual([est(40n, 40n, 50 * (1 / 21))]);
  });

  it('keeps a bucket of one id (two consecutive bounds) as a piece of its own', () => {
    expect(bucketPieces([0n, 10n, 11n, 20n], 30, 0n, 20n)).toEqual([
      est(0n, 9n, 30),
      est(10n, 10n, 30),
      est(11n, 20n, 30),
    ]);
  });

  it('hands the rows of a collapsed bucket (a repeated bound) to the next bucket', () => {
    expect(bucketPieces([0n, 10n, 10n, 10n, 20n], 30, 0n, 20n)).toEqual([est(0n, 9n, 30), est(10n, 20n, 90)]);
    // Also when the range starts after the collapsed bucket, inside the one that takes its rows.
    expect(bucketPieces([0n, 5n, 5n, 20n], 10, 6n, 20n)).toEqual([est(6n, 20n, 20 * (15 / 16))]);
  });

  it('makes no pieces of one bound', () => {
    expect(bucketPieces([7n], 100, 0n, 10n)).toEqual([]);
  });
});
