// The streams' horizon: the highest row id H such that every row with an id ≤ H is visible now or never
// will be. Streams deliver rows only up to H, in id order, so a client resuming after row X can never
// miss a row below X that committed late. Pure: (state, observation) → state.
//
// Why rows commit out of id order: ids come from a sequence when a row is inserted, but transactions
// commit in any order. Transaction A takes ids 100–199, B takes 200–299, B commits first: a reader sees
// 200–299 while 100–199 are still invisible. A stream that sent row 299 and then saw 100 appear could
// not put it before 299; a client resuming after 299 would never get it.
//
// How H moves: ids visible without a gap above H settle at once. A gap (an id not visible) is either a
// transaction still in progress or an id that will never be used (a rollback, a failed insert, a deleted
// row). A read at server time T that sees ids up to U records {upTo: U, seenAt: T}: every id ≤ U was
// handed out by the sequence before T (a sequence hands out ids in increasing order, CACHE 1), by a
// transaction that started before T. Such a transaction holds a lock on the sequence (nextval takes one,
// and it is kept to the end of the transaction). So once no session holding the sequence's lock started
// before T, every id ≤ U is visible or dead: the gap is settled. The tail asks PostgreSQL for the oldest
// start among the sequence's lock holders, then reads (applyHolders before applyRead: a row that committed
// in between is in the read).

export interface PendingGap {
  /** The highest id visible to the read that found the gap. */
  upTo: bigint;
  /** That read's server clock, microseconds since the epoch (after its snapshot was taken). */
  seenAt: bigint;
}

export interface HorizonState {
  /** False until the rows that existed when the tail started are settled: no horizon before then. */
  ready: boolean;
  /** Every id ≤ h is visible or dead (once ready). Reads look at ids above it. */
  h: bigint;
  /** Every id ≤ cleared is visible or dead, by a holder check (the walk may not have reached it yet). */
  cleared: bigint;
  /** Gaps found by reads, oldest first, each waiting for the transactions that could fill it. */
  pending: PendingGap[];
}

/** The tail's start: `maxId` is the highest id visible at server time `at` (0 for an empty table). */
export function startHorizon(maxId: bigint, at: bigint): HorizonState {
  return { ready: false, h: maxId, cleared: -1n, pending: [{ upTo: maxId, seenAt: at }] };
}

/** The published horizon: null until ready. */
export const horizonOf = (s: HorizonState): bigint | null => (s.ready ? s.h : null);

/**
 * A holder check: `oldestHolderStart` is the earliest transaction start (µs) among the sessions holding
 * a lock on the id sequence, or null when none does. Every gap seen before it is settled.
 */
export function applyHolders(s: HorizonState, oldestHolderStart: bigint | null): HorizonState {
  let cleared = s.cleared;
  let i = 0;
  while (i < s.pending.length && (oldestHolderStart === null || s.pending[i]!.seenAt < oldestHolderStart)) {
    if (s.pending[i]!.upTo > cleared) cleared = s.pending[i]!.upTo;
    i++;
  }
  if (i === 0) return s;
  const ready = s.ready || cleared >= s.h;
  return { ready, h: s.h, cleared, pending: s.pending.slice(i) };
}

/**
 * A read (only once ready) of the ids visible above `s.h`, ascending, at most the read's limit
 * (`full`: the limit was reached, ids above the last one were not read), at server time `at`.
 */
export function applyRead(s: HorizonState, ids: readonly bigint[], full: boolean, at: bigint): HorizonState {
  if (!s.ready) throw new Error('applyRead before the horizon is ready');
  const last = ids.length > 0 ? ids[ids.length - 1]! : s.h;
  // Ids up to `reach` that the read did not return are dead: cleared by a holder check, and (when the
  // read was cut at its limit) no further than what it covered.
  const reach = full && s.cleared > last ? last : s.cleared;
  let h = s.h;
  let i = 0;
  while (i < ids.length) {
    const id = ids[i]!;
    if (id <= h) {
      i++; // (not returned by a read above h; tolerated)
    } else if (id === h + 1n || id <= reach) {
      h = id;
      i++;
    } else if (reach > h) {
      h = reach; // the missing ids below `reach` are dead; look at `id` again
    } else break;
  }
  if (i === ids.length && reach > h) h = reach;
  // Gaps the walk has passed need no holder check any more.
  let pending =
    s.pending.length > 0 && s.pending[0]!.upTo <= h ? s.pending.filter((p) => p.upTo > h) : s.pending;
  if (i < ids.length) {
    // A gap below `last`: record it unless an earlier record already covers it.
    const covered = pending.length > 0 ? pending[pending.length - 1]!.upTo : s.cleared;
    if (last > covered) pending = [...pending, { upTo: last, seenAt: at }];
  }
  return { ready: true, h, cleared: s.cleared, pending };
}
