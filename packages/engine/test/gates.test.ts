// The pure pieces of throttling, tested without a database: adaptive batch size, gate decisions, the WAL
// budget's token bucket, hold back-off, maintenance windows.
import { batchPolicyOf, firstBatchSize, GROWTH, nextBatchSize } from '@backfill/engine/backfill';
import {
  advanceWalBucket,
  evaluateGates,
  type GateSettings,
  type HealthSample,
  holdBackoffMs,
  newWalBucket,
  parseWindow,
  windowState,
} from '@backfill/engine/health';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const policy = { targetMs: 300, min: 100, max: 20_000, initial: 5000 };

describe('adaptive batch size', () => {
  it('halves after a timeout and after a batch slower than twice the target, never below min', () => {
    expect(nextBatchSize(policy, 5000, { outcome: 'timeout' })).toBe(2500);
    expect(nextBatchSize(policy, 5000, { outcome: 'ok', rows: 5000, ms: 700 })).toBe(2500);
    expect(nextBatchSize(policy, 150, { outcome: 'timeout' })).toBe(100);
  });

  it('grows slowly after fast batches (at most ×1.2), never past what the last batch says fits', () => {
    expect(nextBatchSize(policy, 5000, { outcome: 'ok', rows: 5000, ms: 10 })).toBe(6000);
    // 5000 rows in 230 ms fits 6,522 in 300 ms: more than ×1.2 would allow, so ×1.2.
    expect(nextBatchSize(policy, 5000, { outcome: 'ok', rows: 5000, ms: 230 })).toBe(6000);
    // 5000 rows in 239 ms: 0.8 × target is 240, so it grows, but only to what fits (6,276).
    expect(nextBatchSize({ ...policy, targetMs: 300 }, 5000, { outcome: 'ok', rows: 5000, ms: 239 })).toBe(
      6000,
    );
    expect(nextBatchSize(policy, 19_000, { outcome: 'ok', rows: 19_000, ms: 10 })).toBe(20_000);
  });

  it('keeps the size in the band, and after a short batch (the end of a range says nothing about speed)', () => {
    expect(nextBatchSize(policy, 5000, { outcome: 'ok', rows: 5000, ms: 400 })).toBe(5000);
    expect(nextBatchSize(policy, 5000, { outcome: 'ok', rows: 12, ms: 1 })).toBe(5000);
  });

  it('with target 0 stays at the set size, and comes back to it after a timeout', () => {
    const fixed = batchPolicyOf({ ...RUN_SETTINGS_DEFAULTS, targetBatchMs: 0, batchSize: 1000 });
    expect(firstBatchSize(fixed)).toBe(1000);
    expect(nextBatchSize(fixed, 1000, { outcome: 'ok', rows: 1000, ms: 1 })).toBe(1000);
    let size = nextBatchSize(fixed, 1000, { outcome: 'timeout' });
    expect(size).toBe(500);
    for (let i = 0; i < 10; i++) size = nextBatchSize(fixed, size, { outcome: 'ok', rows: size, ms: 1 });
    expect(size).toBe(1000);
    // A set size below minBatchSize is still the size (min follows it down).
    expect(firstBatchSize(batchPolicyOf({ ...RUN_SETTINGS_DEFAULTS, targetBatchMs: 0, batchSize: 20 }))).toBe(
      20,
    );
  });

  it('property: always within [min, max], and never grows by more than ×1.2 (rounded)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.oneof(
          fc.constant({ outcome: 'timeout' as const }),
          fc.record({
            outcome: fc.constant('ok' as const),
            rows: fc.integer({ min: 0, max: 100_000 }),
            ms: fc.double({ min: 0, max: 100_000, noNaN: true }),
          }),
        ),
        (min, span, size, targetMs, obs) => {
          const p = { targetMs, min, max: min + span, initial: size };
          const start = Math.max(p.min, Math.min(p.max, size));
          const next = nextBatchSize(p, start, obs);
          expect(next).toBeGreaterThanOrEqual(p.min);
          expect(next).toBeLessThanOrEqual(p.max);
          expect(next).toBeLessThanOrEqual(
            Math.max(p.min, Math.round(start * GROWTH) + 1, Math.min(p.max, p.initial)),
          );
        },
      ),
    );
  });
});

const settings: GateSettings = {
  gateReplicationLagMs: 10_000,
  gateLockWaitMs: 1000,
  gateTransactionAgeMs: 3_600_000,
  gateAutovacuum: false,
  gateWalBytesPerSecond: 0,
  gateSql: null,
  window: null,
  timezone: 'UTC',
};
const calm: HealthSample = {
  at: 1_000_000,
  replicationLagMs: 0,
  lockWaitMs: 0,
  oldestTransactionMs: 0,
  autovacuum: null,
  walLsnBytes: 0,
  probes: {},
};
const now = new Date('2026-12-03T12:00:00Z');

describe('gates', () => {
  it('go when everything is calm', () => {
    expect(evaluateGates(settings, calm, null, now)).toEqual({ hold: false });
  });

  it.each([
    ['replication_lag', { replicationLagMs: 14_000 }, '14s', '10s'],
    ['lock_waits', { lockWaitMs: 2500 }, '2500ms', '1000ms'],
    ['transaction_age', { oldestTransactionMs: 7_200_000 }, '7200s', '3600s'],
  ] as const)(
    '%s holds above its threshold, with value, threshold and reason',
    (gate, sample, value, threshold) => {
      const d = evaluateGates(settings, { ...calm, ...sample }, null, now);
      expect(d).toMatchObject({ hold: true, gate, value, threshold });
      expect(d.hold && d.reason.length).toBeGreaterThan(10);
    },
  );

  it('each gate is off at 0 (or false, or null)', () => {
    const off: GateSettings = {
      ...settings,
      gateReplicationLagMs: 0,
      gateLockWaitMs: 0,
      gateTransactionAgeMs: 0,
    };
    const bad = {
      ...calm,
      replicationLagMs: 1e9,
      lockWaitMs: 1e9,
      oldestTransactionMs: 1e9,
      autovacuum: { wraparound: false },
    };
    expect(evaluateGates(off, bad, null, now)).toEqual({ hold: false });
    expect(evaluateGates({ ...off, gateAutovacuum: true }, bad, null, now)).toMatchObject({
      gate: 'autovacuum',
    });
  });

  it('an anti-wraparound autovacuum always holds, even with every gate off', () => {
    const off: GateSettings = {
      ...settings,
      gateReplicationLagMs: 0,
      gateLockWaitMs: 0,
      gateTransactionAgeMs: 0,
    };
    const d = evaluateGates(off, { ...calm, autovacuum: { wraparound: true } }, null, now);
    expect(d).toMatchObject({ hold: true, gate: 'autovacuum', threshold: 'always holds' });
  });

  it('the SQL probe holds with its own reason', () => {
    const sql = 'SELECT true AS hold';
    const d = evaluateGates(
      { ...settings, gateSql: sql },
      { ...calm, probes: { [sql]: { hold: true, reason: 'deploy' } } },
      null,
      now,
    );
    expect(d).toMatchObject({ hold: true, gate: 'sql_probe', reason: 'deploy' });
  });

  it('a window that excludes now holds, saying when it opens', () => {
    const d = evaluateGates(
      { ...settings, window: '22:00-06:00', timezone: 'Europe/Berlin' },
      calm,
      null,
      now,
    );
    expect(d).toMatchObject({ hold: true, gate: 'window', until: '2026-12-03T22:00:00.000+01:00' });
    expect(d.hold && d.retryInMs).toBe(9 * 3_600_000); // 13:00 Berlin → 22:00
    expect(
      evaluateGates({ ...settings, window: '09:00-17:00', timezone: 'Europe/Berlin' }, calm, null, now),
    ).toEqual({
      hold: false,
    });
  });
});

describe('the WAL budget (a token bucket over the database-wide WAL)', () => {
  it('holds once more WAL was written than the budget refills, and says when it refills', () => {
    const budget = 1_000_000; // 1 MB/s
    const at0 = { ...calm, at: 0, walLsnBytes: 0 };
    const bucket = newWalBucket(budget, at0);
    // 3 MB in one second: at most one second's worth is saved up (1 MB), so 1 MB − 3 MB = −2 MB: hold ~2 s.
    const rate = advanceWalBucket(bucket, budget, { ...calm, at: 1000, walLsnBytes: 3_000_000 });
    expect(rate).toBe(3_000_000);
    const d = evaluateGates(
      { ...settings, gateWalBytesPerSecond: budget },
      calm,
      { bucket, rate },
      new Date(1000),
    );
    expect(d).toMatchObject({ hold: true, gate: 'wal_rate', value: '2.9 MB/s' });
    expect(d.hold && d.retryInMs).toBe(2000);
    // Two quiet seconds refill it.
    advanceWalBucket(bucket, budget, { ...calm, at: 2000, walLsnBytes: 3_000_000 });
    expect(bucket.tokens).toBe(-1_000_000);
    advanceWalBucket(bucket, budget, { ...calm, at: 3000, walLsnBytes: 3_000_000 });
    expect(
      evaluateGates(
        { ...settings, gateWalBytesPerSecond: budget },
        calm,
        { bucket, rate: 0 },
        new Date(3000),
      ),
    ).toEqual({
      hold: false,
    });
  });

  it('property: over any run of samples, WAL written ≤ budget × time + one second of burst + the last overdraft', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 5_000_000 })), {
          maxLength: 50,
        }),
        (steps) => {
          const budget = 1_000_000;
          const bucket = newWalBucket(budget, { ...calm, at: 0, walLsnBytes: 0 });
          let at = 0;
          let lsn = 0;
          let written = 0;
          for (const [dt, bytes] of steps) {
            // Only while the bucket is not empty may the backfill write (the gate holds otherwise).
            const w = bucket.tokens >= 0 ? bytes : 0;
            at += dt;
            lsn += w;
            written += w;
            advanceWalBucket(bucket, budget, { ...calm, at, walLsnBytes: lsn });
          }
          expect(written).toBeLessThanOrEqual(budget * (at / 1000) + budget + 5_000_000);
        },
      ),
    );
  });
  it('refills between samples: the hold ends when the budget says, not at the next sample', () => {
    const budget = 1_000_000;
    const bucket = newWalBucket(budget, { ...calm, at: 0, walLsnBytes: 0 });
    advanceWalBucket(bucket, budget, { ...calm, at: 1000, walLsnBytes: 2_500_000 }); // −1.5 MB
    const gates = { ...settings, gateWalBytesPerSecond: budget };
    expect(evaluateGates(gates, calm, { bucket, rate: 0 }, new Date(2000))).toMatchObject({ retryInMs: 500 });
    expect(evaluateGates(gates, calm, { bucket, rate: 0 }, new Date(2600))).toEqual({ hold: false });
  });
});

describe('hold back-off', () => {
  const hold = { gate: 'replication_lag' as const, value: '', threshold: '', reason: '' };
  it('grows with the time held, is jittered, and is capped so a pause or a cleared gate is seen soon', () => {
    expect(holdBackoffMs(hold, 0, () => 0.5)).toBe(250);
    expect(holdBackoffMs(hold, 2000, () => 0.5)).toBe(750);
    expect(holdBackoffMs(hold, 1e9, () => 0.5)).toBe(2000);
    expect(holdBackoffMs(hold, 0, () => 0)).toBe(188);
    expect(holdBackoffMs(hold, 0, () => 1)).toBe(313);
    expect(holdBackoffMs({ ...hold, retryInMs: 400 }, 1e9, () => 0.5)).toBe(400);
  });
});

describe('windows', () => {
  it('parses HH:MM-HH:MM and refuses anything else', () => {
    expect(parseWindow('22:00-06:00')).toMatchObject({ startMinute: 1320, endMinute: 360 });
    for (const bad of ['22-06', '24:00-01:00', '9:00-17:00', '22:00 06:00', ''])
      expect(parseWindow(bad)).toBeNull();
  });

  it('crosses midnight, and says when it next opens or closes', () => {
    const w = parseWindow('22:00-06:00')!;
    expect(windowState(w, 'UTC', new Date('2026-12-03T23:30:00Z'))).toEqual({
      open: true,
      nextChange: '2026-12-04T06:00:00.000Z',
    });
    expect(windowState(w, 'UTC', new Date('2026-12-04T05:59:00Z')).open).toBe(true);
    expect(windowState(w, 'UTC', new Date('2026-12-04T06:00:00Z'))).toEqual({
      open: false,
      nextChange: '2026-12-04T22:00:00.000Z',
    });
  });

  it('follows the zone across a DST change (Europe/Berlin, 2026-03-29: 02:00 → 03:00)', () => {
    const w = parseWindow('01:00-05:00')!;
    // 00:30 UTC on the 29th is 01:30 CET: open; it closes at 05:00 local, which is CEST by then.
    expect(windowState(w, 'Europe/Berlin', new Date('2026-03-29T00:30:00Z'))).toEqual({
      open: true,
      nextChange: '2026-03-29T05:00:00.000+02:00',
    });
    // A window starting at a time the jump skips (02:30) opens at 03:30 local that night.
    const skipped = parseWindow('02:30-04:00')!;
    expect(windowState(skipped, 'Europe/Berlin', new Date('2026-03-28T23:00:00Z')).nextChange).toBe(
      '2026-03-29T03:30:00.000+02:00',
    );
  });
});
