// The streams' horizon (src/stream/horizon.ts) against a model of PostgreSQL: transactions start, draw
// ids from the sequence (taking its lock until they end), commit or roll back in any order, while the
// tail checks the lock holders and reads what is visible. The horizon must never pass an id that can
// still commit (a stream would lose that row), and must reach every committed row once the writers stop.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyHolders,
  applyRead,
  type HorizonState,
  horizonOf,
  startHorizon,
} from '../src/stream/horizon.js';

interface Tx {
  start: number;
  ids: number[];
  /** Drew an id: holds the sequence's lock until it ends. */
  holds: boolean;
  ended: boolean;
}

type Step =
  | { kind: 'begin' }
  | { kind: 'draw'; tx: number; n: number }
  | { kind: 'end'; tx: number; commit: boolean }
  | { kind: 'tick'; limit: number }
  | { kind: 'delete'; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'begin' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('draw' as const),
      tx: fc.nat(20),
      n: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('end' as const), tx: fc.nat(20), commit: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), limit: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat(50) }) },
);

class Model {
  clock = 0;
  next = 1;
  txs: Tx[] = [];
  committed = new Map<number, number>(); // id -> commit time
  state: HorizonState | undefined;
  /** Every horizon published, with the ids that could still commit at that moment. */
  published: bigint[] = [];
  /** Every row a stream would have sent, in order. */
  delivered: number[] = [];
  /** The horizon when the tail became ready: rows above it are the live rows. */
  readyAt: bigint | undefined;

  now(): number {
    return ++this.clock;
  }

  open(): Tx[] {
    return this.txs.filter((t) => !t.ended);
  }

  apply(s: Step): void {
    if (s.kind === 'begin') this.txs.push({ start: this.now(), ids: [], holds: false, ended: false });
    else if (s.kind === 'draw') {
      const open = this.open();
      const tx = open[s.tx % Math.max(open.length, 1)];
      if (!tx) return;
      tx.holds = true;
      for (let i = 0; i < s.n; i++) tx.ids.push(this.next++);
      this.now();
    } else if (s.kind === 'end') {
      const open = this.open();
      const tx = open[s.tx % Math.max(open.length, 1)];
      if (!tx) return;
      const at = this.now();
      tx.ended = true;
      if (s.commit) for (const id of tx.ids) this.committed.set(id, at);
    } else if (s.kind === 'delete') {
      // A committed row deleted (it leaves a gap a stream must pass, whether it was sent or not).
      const ids = [...this.committed.keys()];
      if (ids.length > 0) this.committed.delete(ids[s.pick % ids.length]!);
      this.now();
    } else this.tick(s.limit);
  }

  /** What the tail does: the start, a holder check while a gap is pending, then a read. */
  tick(limit: number): void {
    if (!this.state) {
      const at = this.now();
      const visible = [...this.committed.keys()];
      this.state = startHorizon(BigInt(visible.length ? Math.max(...visible) : 0), BigInt(at));
    }
    if (this.state.pending.length > 0) {
      this.now();
      const holders = this.open().filter((t) => t.holds);
      const oldest = holders.length ? BigInt(Math.min(...holders.map((t) => t.start))) : null;
      this.state = applyHolders(this.state, oldest);
      if (this.state.ready) this.readyAt ??= this.state.h;
    }
    if (this.state.ready) {
      const snapshot = this.now(); // rows committed before the snapshot are visible
      const h = this.state.h;
      const ids = [...this.committed.entries()]
        .filter(([id, at]) => at < snapshot && BigInt(id) > h)
        .map(([id]) => id)
        .sort((a, b) => a - b)
        .slice(0, limit);
      const at = this.now(); // clock_timestamp(), after the snapshot
      this.state = applyRead(this.state, ids.map(BigInt), ids.length === limit, BigInt(at));
      // What a stream sends: the rows of this read up to the new horizon. None may be missing.
      const to = Number(this.state.h);
      const sent = ids.filter((id) => id > Number(h) && id <= to);
      const due = [...this.committed.keys()].filter((id) => id > Number(h) && id <= to).sort((a, b) => a - b);
      if (sent.join() !== due.join()) throw new Error(`horizon ${h}→${to} sent [${sent}] of [${due}]`);
      this.delivered.push(...sent);
    }
    const horizon = horizonOf(this.state);
    if (horizon !== null) this.check(horizon);
  }

  /** No id at or below the horizon may commit after this moment. */
  check(horizon: bigint): void {
    this.published.push(horizon);
    for (const tx of this.open()) {
      for (const id of tx.ids) {
        if (BigInt(id) <= horizon)
          throw new Error(`horizon ${horizon} passed id ${id} of an open transaction`);
      }
    }
    if (horizon >= BigInt(this.next))
      throw new Error(`horizon ${horizon} passed ids not drawn yet (next ${this.next})`);
  }
}

describe('stream horizon', () => {
  it('never passes an id that may still commit, and reaches every committed row in the end', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 150, size: 'max' }), (steps) => {
        const m = new Model();
        for (const s of steps) m.apply(s);
        // The writers stop: everything ends; the tail keeps ticking.
        for (const tx of m.open()) m.apply({ kind: 'end', tx: 0, commit: tx.start % 2 === 0 });
        for (let i = 0; i < 50; i++) m.tick(8);
        const maxCommitted = Math.max(0, ...m.committed.keys());
        expect(horizonOf(m.state!)!).toBeGreaterThanOrEqual(BigInt(maxCommitted));
        // Every row committed after the tail started (and not deleted) was sent, once, in id order.
        const start = m.readyAt!;
        for (let i = 1; i < m.delivered.length; i++)
          expect(m.delivered[i]!).toBeGreaterThan(m.delivered[i - 1]!);
        const sent = new Set(m.delivered);
        for (const id of m.committed.keys())
          if (BigInt(id) > start) expect(sent.has(id), `row ${id}`).toBe(true);
        // The horizon never goes back.
        for (let i = 1; i < m.published.length; i++) {
          expect(m.published[i]!).toBeGreaterThanOrEqual(m.published[i - 1]!);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the race, spelled out: a later transaction commits first; the horizon waits for the earlier one', () => {
    const m = new Model();
    const steps: Step[] = [
      { kind: 'tick', limit: 8 }, // the tail starts on an empty table
      { kind: 'begin' },
      { kind: 'begin' },
      { kind: 'draw', tx: 0, n: 2 }, // ids 1–2, still open
      { kind: 'draw', tx: 1, n: 2 }, // ids 3–4
      { kind: 'end', tx: 1, commit: true }, // 3–4 visible first
      { kind: 'tick', limit: 8 },
      { kind: 'tick', limit: 8 },
    ];
    for (const s of steps) m.apply(s);
    expect(horizonOf(m.state!)).toBe(0n);
    m.apply({ kind: 'end', tx: 0, commit: true });
    m.tick(8);
    m.tick(8);
    expect(horizonOf(m.state!)).toBe(4n);
  });

  it('holds at a gap while the transaction that drew it is open, and passes it once that one ends', () => {
    let s = startHorizon(10n, 100n);
    s = applyHolders(s, null);
    expect(horizonOf(s)).toBe(10n);
    // Ids 11–12 belong to an open transaction (started at 150); 13–14 committed.
    s = applyRead(s, [13n, 14n], false, 200n);
    expect(horizonOf(s)).toBe(10n);
    expect(s.pending).toEqual([{ upTo: 14n, seenAt: 200n }]);
    s = applyHolders(s, 150n); // still open: started before the gap was seen
    s = applyRead(s, [13n, 14n, 15n], false, 210n);
    expect(horizonOf(s)).toBe(10n);
    s = applyHolders(s, 205n); // only a newer holder: ids ≤ 14 are final; 15 is new (after 200)
    s = applyRead(s, [11n, 12n, 13n, 14n, 15n], false, 220n);
    expect(horizonOf(s)).toBe(15n);
    expect(s.pending).toEqual([]);
  });

  it('takes a gap left by a rollback as dead once nobody who could fill it is left', () => {
    let s = applyHolders(startHorizon(0n, 1n), null);
    s = applyRead(s, [1n, 2n, 5n, 6n], false, 10n);
    expect(horizonOf(s)).toBe(2n);
    s = applyHolders(s, null);
    expect(horizonOf(s)).toBe(2n); // cleared, but the walk happens with the next read
    s = applyRead(s, [5n, 6n, 7n], false, 20n);
    expect(horizonOf(s)).toBe(7n);
  });

  it('passes ids a holder check cleared even where their rows were deleted, and stops at an open one', () => {
    // Ids ≤ 5 were cleared; rows 3–5 were deleted since; 6 is an open transaction's; 8 committed.
    const s: HorizonState = { ready: true, h: 2n, cleared: 5n, pending: [] };
    const next = applyRead(s, [8n], false, 50n);
    expect(horizonOf(next)).toBe(5n);
    expect(next.pending).toEqual([{ upTo: 8n, seenAt: 50n }]);
    expect(horizonOf(applyRead(s, [6n, 8n], false, 50n))).toBe(6n);
    expect(horizonOf(applyRead(s, [], false, 50n))).toBe(5n);
  });

  it('a read cut at its limit never jumps past what it read', () => {
    let s = applyHolders(startHorizon(0n, 1n), null);
    s = applyRead(s, [1n, 3n], true, 10n);
    s = applyHolders(s, null); // ids ≤ 3 final
    s = { ...s, cleared: 100n }; // as if a later gap (seen up to 100) cleared too
    s = applyRead(s, [3n, 4n], true, 20n);
    expect(horizonOf(s)).toBe(4n); // not 100: ids 5..100 were not read yet
    s = applyRead(s, [50n], false, 30n);
    expect(horizonOf(s)).toBe(100n);
  });

  it('has no horizon until the rows present at the start are settled', () => {
    let s = startHorizon(42n, 1000n);
    expect(horizonOf(s)).toBeNull();
    s = applyHolders(s, 999n); // a transaction from before the start is open
    expect(horizonOf(s)).toBeNull();
    expect(() => applyRead(s, [], false, 1001n)).toThrow(/before the horizon is ready/);
    s = applyHolders(s, 1001n);
    expect(horizonOf(s)).toBe(42n);
  });
});
