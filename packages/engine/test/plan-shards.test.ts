import { insertDemoRows } from '@backfill/demo-data';
import { createPool, quoteIdent, RUN_LOGS, type TableRef } from '@backfill/engine/db';
import { SchemaError, UsageError } from '@backfill/engine/errors';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import {
  type PlannedShard,
  type PlanOptions,
  packPieces,
  planShards,
  type ShardPlan,
} from '@backfill/engine/plan';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test-support/db.js';
import { captureLogger } from '../../../test-support/logger.js';

const { logger } = captureLogger('warn');

const ROWS = 1_000_000;
const TARGET = 50_000;

const table = (name: string, schema = 'public'): TableRef => ({ schema, name });

/** Every id in [plan.fromId, plan.toId] belongs to exactly one shard; shards ascend, numbered 0, 1, 2… */
function assertContiguous(plan: ShardPlan): void {
  const { shards } = plan;
  if (shards.length === 0) return;
  expect(shards[0]!.fromId).toBe(plan.fromId);
  expect(shards[shards.length - 1]!.toId).toBe(plan.toId);
  shards.forEach((s, i) => {
    expect(s.shardNo).toBe(i);
    expect(s.fromId <= s.toId, `shard ${i}: ${s.fromId} > ${s.toId}`).toBe(true);
    expect(Number.isInteger(s.estimatedRows) && s.estimatedRows >= 0).toBe(true);
    if (i > 0) expect(s.fromId).toBe(shards[i - 1]!.toId + 1n);
  });
  expect(plan.estimatedRows).toBe(shards.reduce((n, s) => n + s.estimatedRows, 0));
}

/** Actual rows per shard, in one scan: width_bucket over the shards' first ids. */
async function actualCounts(c: pg.ClientBase, t: TableRef, shards: PlannedShard[]): Promise<number[]> {
  const counts = shards.map(() => 0);
  if (shards.length === 0) return counts;
  const id = quoteIdent('id');
  const { rows } = await c.query<{ b: number; n: number }>(
    `SELECT width_bucket(${id}, $1::bigint[]) AS b, count(*)::int AS n
       FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}
      WHERE ${id} BETWEEN $2::bigint AND $3::bigint GROUP BY 1`,
    [shards.map((s) => s.fromId.toString()), shards[0]!.fromId.toString(), shards.at(-1)!.toId.toString()],
  );
  for (const r of rows) counts[r.b - 1] = r.n;
  return counts;
}

const within = (n: number, target: number) => n >= target / 2 && n <= 2 * target;

function summary(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0] ?? 0, median: s[Math.floor(s.length / 2)] ?? 0, max: s.at(-1) ?? 0 };
}

async function statTarget(c: pg.ClientBase, t: TableRef): Promise<number> {
  const { rows } = await c.query<{ n: number }>(
    `SELECT coalesce(attstattarget, -1)::int AS n FROM pg_attribute
      WHERE attrelid = $1::regclass AND attname = 'id'`,
    [`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`],
  );
  return rows[0]!.n;
}

describe('planShards', () => {
  let url: string;
  let c: pg.Client;
  const plan = (o: Partial<PlanOptions>) =>
    planShards(c, { table: RUN_LOGS, shardRows: TARGET, logger, ...o } as PlanOptions);

  beforeAll(async () => {
    url = await freshDatabase('plan_shards');
    await migrateUp({ databaseUrl: url, index: 'defer', logger, ...DEFAULT_LOCK_POLICY });
    c = new pg.Client({ connectionString: url });
    await c.connect();
    // Statistics change only when a test asks for it.
    await c.query('ALTER TABLE run_logs SET (autovacuum_enabled = false)');
    const pool = createPool(url);
    try {
      const s = await insertDemoRows(pool, { rows: ROWS, sparse: true });
      console.info(`fixture: ${ROWS} sparse rows, ids ${s.minId}..${s.maxId}, ${s.seconds} s`);
    } finally {
      await pool.end();
    }
    await c.query('ANALYZE run_logs');
  }, 300_000);

  afterAll(async () => {
    await c?.end();
  });

  it('keyset: exact shards within [target/2, 2·target] on 1M rows spread over ids up to ~10^10', async () => {
    const p = await plan({ method: 'keyset' });
    console.info(`keyset, 1M sparse rows: ${p.shards.length} shards in ${p.ms} ms`);
    expect(p.method).toBe('keyset');
    assertContiguous(p);
    expect(p.toId).toBeGreaterThan(1_000_000_000n); // really sparse
    expect(p.shards).toHaveLength(ROWS / TARGET); // no flood of empty shards
    p.shards.slice(0, -1).forEach((s) => {
      expect(within(s.estimatedRows, TARGET)).toBe(true);
    });
    const counts = await actualCounts(c, RUN_LOGS, p.shards);
    expect(counts).toEqual(p.shards.map((s) => s.estimatedRows));
    expect(p.estimatedRows).toBe(ROWS);
    expect(p.ms).toBeLessThan(10_000);
  });

  it('auto: keyset up to keysetMaxRows estimated rows, histogram above, and says why', async () => {
    const k = await plan({});
    expect(k.method).toBe('keyset');
    expect(k.notes[0]).toMatch(/^keyset walk: exact boundaries \(≈ [\d,]+ rows ≤ 5,000,000\)$/);
    const h = await plan({ keysetMaxRows: 100_000 });
    expect(h.method).toBe('histogram');
    expect(h.notes[0]).toMatch(/^histogram: .*≈ [\d,]+ rows > 100,000/);
    assertContiguous(h);
  });

  it('histogram from the default statistics (100): every shard within 2x of the target', async () => {
    // The default target's histogram, not the finer one a test planning with analyze leaves behind.
    await c.query('ANALYZE run_logs');
    const before = await statTarget(c, RUN_LOGS);
    const p = await plan({ method: 'histogram' });
    expect(p.method).toBe('histogram');
    assertContiguous(p);
    const counts = await actualCounts(c, RUN_LOGS, p.shards);
    console.info(`histogram (stats 100): ${p.shards.length} shards in ${p.ms} ms, actual`, summary(counts));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(ROWS);
    for (const n of counts) expect(within(n, TARGET), `${n} rows`).toBe(true);
    expect(p.notes.join(' ')).toMatch(/101 bounds, 100 buckets/);
    expect(p.notes.join(' ')).not.toMatch(/statistics target of/);
    expect(await statTarget(c, RUN_LOGS)).toBe(before); // statistics untouched without analyze
  });

  it('histogram with analyze: raises the statistics target, restores it, and follows density', async () => {
    expect(await statTarget(c, RUN_LOGS)).toBe(-1);
    const p = await plan({ method: 'histogram', analyze: true });
    expect(p.method).toBe('histogram');
    assertContiguous(p);
    expect(await statTarget(c, RUN_LOGS)).toBe(-1);
    expect(p.notes.join(' ')).toMatch(
      /from the default \(-1\) to 10000.*restored the target to the default \(-1\)/,
    );
    const counts = await actualCounts(c, RUN_LOGS, p.shards);
    console.info(`histogram (analyze): ${p.shards.length} shards in ${p.ms} ms, actual`, summary(counts));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(ROWS);
    for (const n of counts) expect(within(n, TARGET), `${n} rows`).toBe(true);
    expect(p.shards.length).toBeLessThanOrEqual(ROWS / TARGET + 1);
    expect(p.ms).toBeLessThan(10_000);

    // A target someone set on purpose comes back as it was.
    await c.query('ALTER TABLE run_logs ALTER COLUMN id SET STATISTICS 250');
    try {
      const q = await plan({ method: 'histogram', analyze: true });
      expect(await statTarget(c, RUN_LOGS)).toBe(250);
      expect(q.notes.join(' ')).toMatch(/from 250 to 10000.*restored the target to 250/);
    } finally {
      await c.query('ALTER TABLE run_logs ALTER COLUMN id SET STATISTICS -1');
    }
  });

  it('honours a fromId/toId sub-range with both methods', async () => {
    const at = async (offset: number) =>
      BigInt(
        (
          await c.query<{ id: string }>('SELECT id::text AS id FROM run_logs ORDER BY id OFFSET $1 LIMIT 1', [
            offset,
          ])
        ).rows[0]!.id,
      );
    const fromId = (await at(123_456)) + 1n; // need not be an existing id
    const toId = (await at(876_543)) + 5n;
    const { rows } = await c.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM run_logs WHERE id BETWEEN $1 AND $2',
      [fromId.toString(), toId.toString()],
    );
    const inRange = rows[0]!.n;
    for (const method of ['keyset', 'histogram'] as const) {
      const p = await plan({ method, fromId, toId });
      expect(p.method).toBe(method);
      expect(p.fromId).toBe(fromId);
      expect(p.toId).toBe(toId);
      assertContiguous(p);
      const counts = await actualCounts(c, RUN_LOGS, p.shards);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(inRange);
      if (method === 'keyset') expect(counts).toEqual(p.shards.map((s) => s.estimatedRows));
      for (const n of counts) expect(within(n, TARGET), `${method}: ${n} rows`).toBe(true);
    }
  });

  it('empty range, empty table: no shards; a range with no rows yet: one shard covering it', async () => {
    for (const method of ['keyset', 'histogram'] as const) {
      const p = await plan({ method, fromId: 500n, toId: 499n });
      expect(p.shards).toEqual([]);
      expect(p.estimatedRows).toBe(0);
      expect(p.notes.join(' ')).toMatch(/empty range/);
    }
    await c.query('CREATE TABLE empty_t (id bigint PRIMARY KEY)');
    for (const method of ['auto', 'keyset', 'histogram'] as const) {
      const p = await plan({ table: table('empty_t'), method, fromId: 1n, toId: 1000n });
      expect(p.shards).toEqual([]);
      expect(p.notes.join(' ')).toMatch(/is empty/);
    }
    // The widest gap between two rows: ids may be inserted there later, so it is still covered.
    const gap = await c.query<{ lo: string; hi: string }>(
      `SELECT (id + 1)::text AS lo, (nxt - 1)::text AS hi
         FROM (SELECT id, lead(id) OVER (ORDER BY id) AS nxt FROM run_logs) g
        WHERE nxt IS NOT NULL ORDER BY nxt - id DESC LIMIT 1`,
    );
    const lo = BigInt(gap.rows[0]!.lo);
    const hi = BigInt(gap.rows[0]!.hi);
    const k = await plan({ method: 'keyset', fromId: lo, toId: hi });
    expect(k.shards).toEqual([{ shardNo: 0, fromId: lo, toId: hi, estimatedRows: 0 }]);
    // The histogram assumes rows are uniform within a bucket: it may guess a few rows in the gap.
    const h = await plan({ method: 'histogram', fromId: lo, toId: hi });
    expect(h.shards).toMatchObject([{ shardNo: 0, fromId: lo, toId: hi }]);
  });

  it('a dense table smaller than the target gives one shard covering [min, max]', async () => {
    await c.query('CREATE TABLE small_t (id bigint PRIMARY KEY)');
    await c.query('INSERT INTO small_t SELECT generate_series(101, 1100)');
    await c.query('ANALYZE small_t');
    for (const method of ['auto', 'keyset', 'histogram'] as const) {
      const p = await plan({ table: table('small_t'), method, shardRows: 100_000 });
      expect(p.shards).toEqual([{ shardNo: 0, fromId: 101n, toId: 1100n, estimatedRows: 1000 }]);
      assertContiguous(p);
    }
  });

  it('histogram: rows inserted after ANALYZE, above the last bound, are covered and counted', async () => {
    const t = table('grow_t');
    await c.query('CREATE TABLE grow_t (id bigint PRIMARY KEY) WITH (autovacuum_enabled = false)');
    await c.query('INSERT INTO grow_t SELECT generate_series(1, 100000)');
    await c.query('ANALYZE grow_t');
    await c.query('INSERT INTO grow_t SELECT generate_series(100001, 130000)');
    const p = await plan({ table: t, method: 'histogram', shardRows: 10_000 });
    expect(p.method).toBe('histogram');
    assertContiguous(p);
    expect(p.toId).toBe(130_000n);
    const counts = await actualCounts(c, t, p.shards);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(130_000);
    for (const n of counts) expect(within(n, 10_000), `${n} rows`).toBe(true);
    const above = /([\d,]+) rows lie above the last histogram bound/.exec(p.notes.join(' '));
    expect(Number(above?.[1]?.replaceAll(',', ''))).toBeGreaterThanOrEqual(30_000);
    // Tail shards came from the keyset walk: exact.
    const tail = p.shards.filter((s) => s.fromId > 100_000n);
    expect(tail.length).toBeGreaterThan(0);
    for (const s of tail) expect(s.estimatedRows).toBe(counts[s.shardNo]);
  });

  it('no statistics and analyze: false falls back to keyset with a warning; auto treats unknown as keyset', async () => {
    const t = table('nostats_t');
    await c.query('CREATE TABLE nostats_t (id bigint PRIMARY KEY) WITH (autovacuum_enabled = false)');
    await c.query('INSERT INTO nostats_t SELECT g * 7 FROM generate_series(1, 20000) g');
    const p = await plan({ table: t, method: 'histogram', shardRows: 3000 });
    expect(p.method).toBe('keyset');
    expect(p.notes.join(' ')).toMatch(
      /no statistics for .*fell back to a keyset walk.*may take long.*--analyze/,
    );
    assertContiguous(p);
    expect(await actualCounts(c, t, p.shards)).toEqual(p.shards.map((s) => s.estimatedRows));

    const auto = await plan({ table: t, shardRows: 3000, keysetMaxRows: 0 });
    expect(auto.method).toBe('keyset');
    expect(auto.notes[0]).toMatch(/row count unknown/);

    const h = await plan({ table: t, method: 'histogram', analyze: true, shardRows: 3000 });
    expect(h.method).toBe('histogram');
    assertContiguous(h);
    expect(await statTarget(c, t)).toBe(-1);
    for (const n of await actualCounts(c, t, h.shards)) expect(within(n, 3000), `${n} rows`).toBe(true);

    // keyset never touches statistics, even when analyze is passed.
    const k = await plan({ table: t, method: 'keyset', analyze: true, shardRows: 3000 });
    expect(k.notes.join(' ')).toMatch(/analyze ignored/);
  });

  it("analyze inside the caller's transaction runs in a savepoint and leaves its settings alone", async () => {
    const t = table('in_tx_t');
    await c.query('CREATE TABLE in_tx_t (id bigint PRIMARY KEY) WITH (autovacuum_enabled = false)');
    await c.query('INSERT INTO in_tx_t SELECT g * 7 FROM generate_series(1, 20000) g');
    const lockTimeout = async () =>
      (await c.query<{ v: string }>(`SELECT current_setting('lock_timeout') AS v`)).rows[0]!.v;
    const before = await lockTimeout();
    await c.query('BEGIN');
    try {
      const p = await plan({ table: t, method: 'histogram', analyze: true, shardRows: 3000 });
      expect(p.method).toBe('histogram');
      expect(c.getTransactionStatus()).toBe('T'); // still the caller's transaction
      expect(await statTarget(c, t)).toBe(-1);
      expect(await lockTimeout()).toBe(before);
    } finally {
      await c.query('ROLLBACK');
    }
    await plan({ table: t, method: 'histogram', analyze: true, shardRows: 3000 });
    expect(c.getTransactionStatus()).toBe('I');
    expect(await lockTimeout()).toBe(before);
  });

  it('quotes identifiers', async () => {
    const t = table('odd "table"', 'Plan Schema');
    const q = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
    await c.query(`CREATE SCHEMA ${quoteIdent(t.schema)}`);
    await c.query(`CREATE TABLE ${q} (id bigint PRIMARY KEY)`);
    await c.query(`INSERT INTO ${q} SELECT g * 1000 FROM generate_series(1, 5000) g`);
    for (const method of ['keyset', 'histogram'] as const) {
      const p = await plan({ table: t, method, analyze: true, shardRows: 1000 });
      expect(p.method).toBe(method);
      assertContiguous(p);
      expect(p.shards).toHaveLength(5);
      for (const n of await actualCounts(c, t, p.shards)) expect(within(n, 1000)).toBe(true);
    }
  });

  it('rejects bad input with UsageError (SchemaError for a table without an integer id)', async () => {
    const bad: Array<Partial<PlanOptions> | Record<string, unknown>> = [
      { shardRows: 0 },
      { shardRows: -5 },
      { shardRows: 1.5 },
      { shardRows: Number.NaN },
      { shardRows: '100' },
      { fromId: 5 },
      { toId: 2n ** 63n },
      { fromId: -(2n ** 63n) - 1n },
      { method: 'fast' },
      { keysetMaxRows: -1 },
      { keysetMaxRows: Number.NaN },
      { analyze: 'yes' },
      { table: table('no_such_table') },
      { table: { schema: '', name: 'run_logs' } },
      { table: undefined },
      { logger: undefined },
    ];
    for (const o of bad) {
      await expect(
        plan(o as Partial<PlanOptions>),
        JSON.stringify(o, (_k, v) => String(v)),
      ).rejects.toBeInstanceOf(UsageError);
    }
    await c.query('CREATE TABLE text_id_t (id text PRIMARY KEY)');
    await expect(plan({ table: table('text_id_t') })).rejects.toBeInstanceOf(SchemaError);
  });
});

describe('packPieces', () => {
  it('covers the pieces contiguously, no shard without ids, in [target/2, 2·target) when cuttable', () => {
    // Wide pieces: keyset steps and histogram buckets. Narrow ones: estimates holding more rows than
    // they have ids (a stale row count, collapsed buckets handing their rows on), narrower than the
    // number of shards their rows ask for, so they can only be cut into one-id parts.
    const wide = fc.record({
      width: fc.bigInt({ min: 1n, max: 10n ** 12n }),
      rows: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 200_000, noNaN: true })),
      exact: fc.boolean(),
      narrow: fc.constant(false),
    });
    const narrow = fc.record({
      width: fc.bigInt({ min: 1n, max: 8n }),
      /** Rows in shard targets. */
      rows: fc.double({ min: 0, max: 40, noNaN: true }),
      exact: fc.constant(false),
      narrow: fc.constant(true),
    });
    const piece = fc.oneof({ arbitrary: wide, weight: 3 }, { arbitrary: narrow, weight: 1 });
    fc.assert(
      fc.property(
        fc.array(piece, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1000, max: 1_000_000 }),
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        (raw, target, start) => {
          let from = start;
          const pieces = raw.map((p) => {
            // Exact pieces come from the keyset walk: never more than the target.
            const rows = p.narrow
              ? p.rows * target
              : p.exact
                ? Math.min(Math.round(p.rows), target)
                : Math.min(p.rows, Number(p.width));
            const x = { fromId: from, toId: from + p.width - 1n, rows, exact: p.exact };
            from += p.width;
            return x;
          });
          const total = pieces.reduce((s, p) => s + p.rows, 0);
          const shards = packPieces(pieces, target);
          // Every shard holds at least one id (fromId ≤ toId), even out of a piece narrower than the
          // number of shards its rows would make.
          assertContiguous({
            method: 'histogram',
            fromId: start,
            toId: from - 1n,
            shardRows: target,
            estimatedRows: shards.reduce((s, x) => s + x.estimatedRows, 0),
            shards,
            ms: 0,
            notes: [],
          });
          const sum = shards.reduce((s, x) => s + x.estimatedRows, 0);
          expect(Math.abs(sum - total)).toBeLessThanOrEqual(shards.length);
          // A one-id part over the target cannot be cut: the size bounds hold when no such part exists.
          const cuttable = pieces.every(
            (p) => p.exact || Math.ceil(p.rows / target) <= Number(p.toId - p.fromId + 1n),
          );
          if (cuttable && shards.length > 1) {
            for (const s of shards) {
              expect(s.estimatedRows).toBeGreaterThanOrEqual(Math.floor(target / 2));
              expect(s.estimatedRows).toBeLessThanOrEqual(Math.ceil(2 * target));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
