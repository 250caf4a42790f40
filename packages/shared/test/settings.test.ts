// The one settings schema: the defaults the README's Configuration table documents, the bounds each
// setting accepts, and how durations are shown in --help.
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  LIMITS,
  PLAN_DEFAULTS,
  RUN_SETTINGS_DEFAULTS,
  RunSettingsSchema,
  SINGLE_PROCESS_WRITERS,
  WORKER_SETTINGS_DEFAULTS,
  WorkerSettingsSchema,
} from '../src/settings.js';

describe('defaults', () => {
  it('are the ones the README documents', () => {
    expect(RUN_SETTINGS_DEFAULTS).toEqual({
      batchSize: 5000,
      maxRowsPerSecond: 0,
      statementTimeoutMs: 30_000,
      lockTimeoutMs: 2000,
      onBadRow: 'fail',
      attempts: 5,
      backoffMs: 5000,
      parallelism: 2,
      targetBatchMs: 300,
      minBatchSize: 100,
      maxBatchSize: 20_000,
      gateReplicationLagMs: 10_000,
      gateLockWaitMs: 1000,
      gateTransactionAgeMs: 3_600_000,
      gateAutovacuum: false,
      gateWalBytesPerSecond: 0,
      gateSql: null,
      window: null,
      timezone: 'UTC',
    });
    expect(WORKER_SETTINGS_DEFAULTS).toEqual({
      concurrency: 2,
      writers: 1,
      shutdownTimeoutMs: 30_000,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      pollIntervalMs: 1000,
      steal: true,
      metricsPort: 0,
      metricsHost: '0.0.0.0',
    });
    expect(PLAN_DEFAULTS).toEqual({ shardRows: 250_000, order: 'asc', planner: 'auto' });
    expect(SINGLE_PROCESS_WRITERS).toBe(2);
  });

  it('fill in only what is missing', () => {
    expect(RunSettingsSchema.parse({ batchSize: 7, onBadRow: 'skip' })).toEqual({
      ...RUN_SETTINGS_DEFAULTS,
      batchSize: 7,
      onBadRow: 'skip',
    });
    expect(WorkerSettingsSchema.parse({ writers: 3 })).toEqual({ ...WORKER_SETTINGS_DEFAULTS, writers: 3 });
  });
});

type Bounds = Record<string, { ok: unknown[]; bad: unknown[] }>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// Each setting at and just past its limits, plus a fraction and a wrong type. Every duration stays
// below 2^31 − 1 ms, where Node's timers would fire at once.
const RUN_BOUNDS: Bounds = {
  batchSize: { ok: [1, 100_000], bad: [0, 100_001, 1.5, '5000'] },
  maxRowsPerSecond: { ok: [0, 1, 10 ** 9], bad: [-1, 0.5, 10 ** 9 + 1] },
  statementTimeoutMs: { ok: [1, HOUR], bad: [0, -5, 1.5, HOUR + 1, 2400_000_000] },
  lockTimeoutMs: { ok: [1, 10 * MINUTE], bad: [0, 2.5, 10 * MINUTE + 1] },
  onBadRow: { ok: ['fail', 'skip'], bad: ['ignore', ''] },
  attempts: { ok: [1, 100], bad: [0, 101, 2.5] },
  backoffMs: { ok: [1, HOUR], bad: [0, 0.5, HOUR + 1] },
  targetBatchMs: { ok: [0, 300, MINUTE], bad: [-1, 0.5, MINUTE + 1] },
  minBatchSize: { ok: [1, 100_000], bad: [0, 100_001] },
  maxBatchSize: { ok: [1, 100_000], bad: [0, 100_001] },
  parallelism: { ok: [0, 2, 10_000], bad: [-1, 10_001, 1.5] },
  gateReplicationLagMs: { ok: [0, 10_000, 24 * HOUR], bad: [-1, 24 * HOUR + 1] },
  gateLockWaitMs: { ok: [0, HOUR], bad: [-1, HOUR + 1] },
  gateTransactionAgeMs: { ok: [0, 7 * 24 * HOUR], bad: [-1, 7 * 24 * HOUR + 1] },
  gateAutovacuum: { ok: [true, false], bad: ['on', 1] },
  gateWalBytesPerSecond: { ok: [0, 50 * 1024 ** 2], bad: [-1, 100 * 1024 ** 3 + 1] },
  gateSql: { ok: [null, 'SELECT false AS hold'], bad: ['', '   ', 5] },
  window: { ok: [null, '22:00-06:00', '00:00-23:59'], bad: ['22-06', '24:00-01:00', '9:00-17:00', ''] },
  timezone: { ok: ['UTC', 'Europe/Berlin', 'America/New_York'], bad: ['Mars/Olympus', '', 'GMT+25'] },
};
const WORKER_BOUNDS: Bounds = {
  concurrency: { ok: [1, 64], bad: [0, 65, 1.5] },
  writers: { ok: [1, 8], bad: [0, 9, 1.5] },
  shutdownTimeoutMs: { ok: [1, HOUR], bad: [0, 1.5, HOUR + 1] },
  lockDurationMs: { ok: [1000, HOUR], bad: [999, 1000.5, HOUR + 1] },
  stalledIntervalMs: { ok: [1000, HOUR], bad: [999, 1000.5, HOUR + 1] },
  pollIntervalMs: { ok: [100, MINUTE], bad: [99, 100.5, MINUTE + 1, 2 ** 31] },
  steal: { ok: [true, false], bad: ['on', 0] },
  metricsPort: { ok: [0, 9464, 65_535], bad: [-1, 65_536, 1.5] },
  metricsHost: { ok: ['0.0.0.0', '127.0.0.1'], bad: ['', 5] },
};

describe.each([
  ['run settings', RunSettingsSchema, RUN_BOUNDS],
  ['worker settings', WorkerSettingsSchema, WORKER_BOUNDS],
] as const)('%s', (_name, schema, bounds) => {
  it('has bounds for every setting', () => {
    expect(Object.keys(bounds).sort()).toEqual(Object.keys(schema.shape).sort());
  });

  for (const [key, { ok, bad }] of Object.entries(bounds)) {
    it(`${key}: accepts ${ok.join(', ')}; refuses ${bad.map((v) => JSON.stringify(v)).join(', ')}`, () => {
      for (const v of ok) expect(schema.safeParse({ [key]: v }).success, `${key} = ${v}`).toBe(true);
      for (const v of bad) {
        const r = schema.safeParse({ [key]: v });
        expect(r.success, `${key} = ${JSON.stringify(v)}`).toBe(false);
        expect(r.error?.issues[0]?.path).toEqual([key]);
      }
    });
  }
});

describe('LIMITS', () => {
  it('keeps every duration below 2^31 − 1 ms (Node timers) and every min below its max', () => {
    for (const [key, l] of Object.entries(LIMITS)) {
      expect(l.min, key).toBeLessThanOrEqual(l.max);
      if (key.endsWith('Ms')) expect(l.max, key).toBeLessThan(2 ** 31 - 1);
    }
  });
});

describe('formatDuration', () => {
  it('shows whole hours as h, whole minutes as m, whole seconds as s, anything else as ms', () => {
    expect(formatDuration(HOUR)).toBe('1h');
    expect(formatDuration(90 * MINUTE)).toBe('90m');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(60_000)).toBe('1m');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(30_000)).toBe('30s');
    expect(formatDuration(1000)).toBe('1s');
    expect(formatDuration(1500)).toBe('1500ms');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(0)).toBe('0ms');
  });
});
