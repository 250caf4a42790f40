// Packing contiguous pieces (histogram buckets, keyset steps) into shards of about `shardRows` rows.
import type { Piece, PlannedShard } from './types.js';

/**
 * An estimated piece holding more than `shardRows` rows, cut into equal id-width parts (rows are
 * assumed uniform within it). Exact pieces and small ones are returned as they are.
 */
export function splitPiece(p: Piece, shardRows: number): Piece[] {
  if (p.exact || p.rows <= shardRows) return [p];
  const width = p.toId - p.fromId + 1n;
  let k = BigInt(Math.ceil(p.rows / shardRows));
  if (k > width) k = width;
  if (k <= 1n) return [p];
  const rows = p.rows / Number(k);
  const parts: Piece[] = [];
  for (let j = 0n; j < k; j++) {
    parts.push({
      fromId: p.fromId + (width * j) / k,
      toId: p.fromId + (width * (j + 1n)) / k - 1n,
      rows,
      exact: false,
    });
  }
  return parts;
}

/**
 * Shards from contiguous, ascending pieces. A shard takes the next piece while that brings it closer to
 * `shardRows` (acc + piece/2 < shardRows), so with pieces of at most shardRows rows every shard but the
 * last gets [shardRows/2, 1.5·shardRows) rows; a last shard under shardRows/2 joins the one before it
 * (< 2·shardRows). Pieces with no rows (gaps) go with the shard they fall in: nothing is left uncovered,
 * and no shard is made of gap alone unless the whole range is.
 */
export function packPieces(pieces: readonly Piece[], shardRows: number): PlannedShard[] {
  const parts = pieces.flatMap((p) => splitPiece(p, shardRows));
  const out: Array<{ fromId: bigint; toId: bigint; rows: number }> = [];
  let cur: { fromId: bigint; toId: bigint; rows: number } | undefined;
  for (const p of parts) {
    if (cur && cur.rows + p.rows / 2 >= shardRows) {
      out.push(cur);
      cur = undefined;
    }
    if (cur) {
      cur.toId = p.toId;
      cur.rows += p.rows;
    } else {
      cur = { fromId: p.fromId, toId: p.toId, rows: p.rows };
    }
  }
  if (cur) {
    const prev = out[out.length - 1];
    if (prev && cur.rows < shardRows / 2) {
      prev.toId = cur.toId;
      prev.rows += cur.rows;
    } else {
      out.push(cur);
    }
  }
  return out.map((s, shardNo) => ({
    shardNo,
    fromId: s.fromId,
    toId: s.toId,
    estimatedRows: Math.round(s.rows),
  }));
}

/** Pieces for equi-depth histogram buckets clipped to [lo, hi] (which must lie within the bounds). */
export function bucketPieces(
  bounds: readonly bigint[],
  rowsPerBucket: number,
  lo: bigint,
  hi: bigint,
): Piece[] {
  const pieces: Piece[] = [];
  const last = bounds.length - 2;
  let carry = 0; // rows of collapsed buckets (repeated bounds), handed to the next bucket
  for (let i = 0; i <= last; i++) {
    const bFrom = bounds[i]!;
    // Bucket i owns [b_i, b_{i+1}); the last bucket also owns its upper bound.
    const bTo = i === last ? bounds[i + 1]! : bounds[i + 1]! - 1n;
    const rows = rowsPerBucket + carry;
    if (bTo < bFrom) {
      carry = rows;
      continue;
    }
    carry = 0;
    const from = bFrom > lo ? bFrom : lo;
    const to = bTo < hi ? bTo : hi;
    if (to < from) continue;
    const share = Number(to - from + 1n) / Number(bTo - bFrom + 1n);
    pieces.push({ fromId: from, toId: to, rows: rows * share, exact: false });
  }
  return pieces;
}
