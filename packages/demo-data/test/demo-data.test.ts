import { Writable } from 'node:stream';
import {
  generateDemoRows,
  insertDemoRows,
  LEGACY_RUN_LOGS_DDL,
  legacyRunLogsDdl,
  sparseIdAllocator,
} from '@backfill/demo-data';
import { createPool, qualified, quoteIdent, RUN_LOGS, type TableRef } from '@backfill/engine/db';
import { UsageError } from '@backfill/engine/errors';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test-support/db.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function captureLogs() {
  const messages: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) messages.push(JSON.parse(line).msg);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), messages };
}

describe('generateDemoRows', () => {
  const rows = generateDemoRows(5000, { seed: 42 });

  it('is deterministic for a seed, and addressable by startIndex', () => {
    expect(generateDemoRows(5000, { seed: 42 })).toEqual(rows);
    expect(generateDemoRows(100, { seed: 42, startIndex: 1234 })).toEqual(rows.slice(1234, 1334));
    const other = generateDemoRows(100, { seed: 43 });
    expect(other.map((r) => r.runId)).not.toEqual(rows.slice(0, 100).map((r) => r.runId));
    expect(generateDemoRows(0)).toEqual([]);
  });

  it('looks like real logs: interleaved runs, mixed levels and types, increasing timestamps', () => {
    const perRun = new Map<string, number>();
    for (const r of rows) perRun.set(r.runId, (perRun.get(r.runId) ?? 0) + 1);
    for (const id of perRun.keys()) expect(id).toMatch(UUID);
    const mean = rows.length / perRun.size;
    expect(mean).toBeGreaterThan(50);
    expect(mean).toBeLessThan(500);
    // Interleaved: the run id changes far more often than there are runs.
    let switches = 0;
    for (let i = 1; i < rows.length; i++) if (rows[i]!.runId !== rows[i - 1]!.runId) switches++;
    expect(switches).toBeGreaterThan(perRun.size * 10);

    const count = (f: (r: (typeof rows)[number]) => boolean) => rows.filter(f).length;
    expect(count((r) => r.level === 'info')).toBeGreaterThan(rows.length / 2);
    for (const level of ['debug', 'warn', 'error'])
      expect(count((r) => r.level === level)).toBeGreaterThan(0);
    expect(count((r) => r.level === 'error')).toBeLessThan(rows.length / 20);
    const types = new Set(rows.map((r) => r.eventType));
    for (const t of ['step.started', 'step.finished', 'log.line', 'metric', 'artifact.uploaded']) {
      expect(types).toContain(t);
    }
    expect(count((r) => r.message === null)).toBeGreaterThan(0);
    expect(count((r) => r.data === null)).toBeGreaterThan(0);

    for (let i = 1; i < rows.length; i++) {
      expect(rows[i]!.timestamp.getTime()).toBeGreaterThan(rows[i - 1]!.timestamp.getTime());
    }
  });

  it('has varied jsonb: nesting, arrays, unicode, numbers, booleans, nested timestamps; ~200–300 bytes', () => {
    const json = rows.filter((r) => r.data !== null).map((r) => JSON.stringify(r.data));
    const mean = json.reduce((s, j) => s + Buffer.byteLength(j), 0) / json.length;
    expect(mean).toBeGreaterThan(180);
    expect(mean).toBeLessThan(320);
    const all = json.join('\n');
    expect(all).toMatch(/[À-ÿ]/); // accents
    expect(all).toMatch(/[\u3040-\u30ff\u4e00-\u9fff]/); // CJK
    expect(all).toMatch(/\p{Extended_Pictographic}/u); // emoji
    expect(all).toMatch(/"timestamp":/);
    expect(all).toMatch(/:\[/); // arrays
    expect(all).toMatch(/:(true|false)/);
    expect(all).toMatch(/:-?\d+\.\d+/); // floats
    expect(all).toMatch(/:\{"/); // nested objects
    expect(rows.some((r) => r.message?.includes('\n'))).toBe(true); // multi-line messages
  });

  it('rejects bad arguments', () => {
    expect(() => generateDemoRows(-1)).toThrow(UsageError);
    expect(() => generateDemoRows(10, { seed: 1.5 })).toThrow(UsageError);
  });

  it('sparse ids ascend, in clusters of varied size separated by gaps of varied length', () => {
    const next = sparseIdAllocator(9, 1000);
    const ids = Array.from({ length: 50_000 }, next);
    expect(ids[0]).toBe(1001);
    const clusters: number[] = [];
    const gaps: number[] = [];
    let size = 1;
    for (let i = 1; i < ids.length; i++) {
      const d = ids[i]! - ids[i - 1]!;
      if (d < 1) throw new Error(`ids not ascending at ${i}: ${ids[i - 1]}, ${ids[i]}`);
      if (d === 1) size++;
      else {
        clusters.push(size);
        gaps.push(d);
        size = 1;
      }
    }
    expect(Math.min(...clusters)).toBeLessThan(5);
    expect(Math.max(...clusters)).toBeGreaterThan(1000);
    expect(Math.min(...gaps)).toBeLessThan(1000);
    expect(Math.max(...gaps)).toBeGreaterThan(10_000_000);
    expect(Array.from({ length: 50_000 }, sparseIdAllocator(9, 1000))).toEqual(ids);
  });
});

describe('insertDemoRows', () => {
  let url: string;
  let pool: pg.Pool;

  beforeAll(async () => {
    url = await freshDatabase('engine_demo_data');
    pool = createPool(url);
  });
  afterAll(async () => {
    await pool?.end();
  });

  const countRows = async (t: TableRef) =>
    Number((await pool.query(`SELECT count(*) AS n FROM ${qualified(t)}`)).rows[0].n);

  it('exports the legacy DDL for run_logs', () => {
    expect(LEGACY_RUN_LOGS_DDL).toBe(legacyRunLogsDdl(RUN_LOGS));
    expect(LEGACY_RUN_LOGS_DDL).toContain('CREATE TABLE IF NOT EXISTS "public"."run_logs"');
    expect(LEGACY_RUN_LOGS_DDL).not.toContain('event_id');
  });

  it('creates the table when missing and inserts valid legacy rows, exactly as generated', async () => {
    const { logger, messages } = captureLogs();
    const progress: number[] = [];
    const summary = await insertDemoRows(pool, {
      rows: 20_000,
      seed: 3,
      batchRows: 7000,
      logger,
      onProgress: (done, total) => {
        expect(total).toBe(20_000);
        progress.push(done);
      },
    });
    expect(summary).toMatchObject({ rows: 20_000, minId: '1', maxId: '20000', createdTable: true });
    expect(summary.seconds).toBeGreaterThan(0);
    expect(progress).toEqual([7000, 14_000, 20_000]);
    expect(messages.some((m) => /did not exist: created it/.test(m))).toBe(true);

    const cols = await pool.query(
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'run_logs' ORDER BY ordinal_position`,
    );
    expect(cols.rows.map((r) => r.column_name)).toEqual([
      'id',
      'run_id',
      'timestamp',
      'level',
      'event_type',
      'message',
      'data',
    ]);

    // Every row round-trips: quoting of quotes, backslashes, newlines and unicode survives the array literals.
    const expected = generateDemoRows(20_000, { seed: 3 });
    const { rows } = await pool.query(
      'SELECT id, run_id::text AS run_id, "timestamp", level, event_type, message, data FROM run_logs ORDER BY id',
    );
    expect(rows).toHaveLength(20_000);
    for (const row of rows) expect(row.run_id).toMatch(UUID);
    expect(rows.map((r) => r.id)).toEqual(expected.map((_, i) => String(i + 1)));
    expect(
      rows.map((r) => ({
        runId: r.run_id,
        timestamp: r.timestamp,
        level: r.level,
        eventType: r.event_type,
        message: r.message,
        data: r.data,
      })),
    ).toEqual(expected);
    const kinds = await pool.query(
      `SELECT coalesce(jsonb_typeof(data), 'sql null') AS kind, count(*)::int AS n FROM run_logs GROUP BY 1`,
    );
    expect(kinds.rows.map((r) => r.kind).sort()).toEqual(['object', 'sql null']);

    // A second run into the existing table appends (ids from the sequence) and creates nothing.
    const again = await insertDemoRows(pool, { rows: 1000, seed: 4, logger });
    expect(again).toMatchObject({ rows: 1000, minId: '20001', maxId: '21000', createdTable: false });
    expect(await countRows(RUN_LOGS)).toBe(21_000);
  });

  it('leaves event_id NULL in a table the migration already touched', async () => {
    const table = { schema: 'public', name: 'run_logs_migrated' };
    await pool.query(legacyRunLogsDdl(table));
    await pool.query(`ALTER TABLE ${qualified(table)} ADD COLUMN ${quoteIdent('event_id')} uuid`);
    await pool.query(
      `INSERT INTO ${qualified(table)} (run_id, event_type, event_id) VALUES (gen_random_uuid(), 'x', gen_random_uuid())`,
    );
    const summary = await insertDemoRows(pool, { table, rows: 5000, seed: 11 });
    expect(summary).toMatchObject({ rows: 5000, minId: '2', maxId: '5001', createdTable: false });
    const res = await pool.query(
      `SELECT count(*)::int AS n, count(event_id)::int AS with_id FROM ${qualified(table)} WHERE id > 1`,
    );
    expect(res.rows[0]).toEqual({ n: 5000, with_id: 0 });
  });

  it('works with a single client as well as a pool', async () => {
    const table = { schema: 'public', name: 'run_logs_client' };
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const summary = await insertDemoRows(client, { table, rows: 2500, batchRows: 1000, seed: 8 });
      expect(summary).toMatchObject({ rows: 2500, minId: '1', maxId: '2500', createdTable: true });
    } finally {
      await client.end();
    }
    expect(await countRows(table)).toBe(2500);
  });

  it('quotes identifiers: a schema and a table with spaces and quotes', async () => {
    const table = { schema: 'demo "schema"', name: 'run logs' };
    await pool.query(`CREATE SCHEMA ${quoteIdent(table.schema)}`);
    const summary = await insertDemoRows(pool, { table, rows: 1500, sparse: true });
    expect(summary.createdTable).toBe(true);
    expect(await countRows(table)).toBe(1500);
  });

  it('--sparse spreads ids far beyond the row count, with gaps, and advances the sequence', async () => {
    const table = { schema: 'public', name: 'run_logs_sparse' };
    const summary = await insertDemoRows(pool, { table, rows: 50_000, seed: 5, sparse: true });
    expect(summary.rows).toBe(50_000);
    expect(summary.minId).toBe('1');
    expect(BigInt(summary.maxId)).toBeGreaterThan(50_000n * 1000n);
    expect(await countRows(table)).toBe(50_000);

    const shape = await pool.query(`
      WITH d AS (SELECT id - lag(id) OVER (ORDER BY id) AS step FROM ${qualified(table)})
      SELECT count(*) FILTER (WHERE step > 1)::int AS gaps, count(*) FILTER (WHERE step = 1)::int AS dense,
             max(step)::text AS widest FROM d`);
    const { gaps, dense, widest } = shape.rows[0];
    expect(gaps).toBeGreaterThan(10);
    expect(dense).toBeGreaterThan(40_000);
    expect(BigInt(widest)).toBeGreaterThan(1_000_000n);
    const max = await pool.query(`SELECT max(id)::text AS m FROM ${qualified(table)}`);
    expect(max.rows[0].m).toBe(summary.maxId);

    // An application insert without an id gets one past the sparse range (the sequence was advanced).
    const app = await pool.query(
      `INSERT INTO ${qualified(table)} (run_id, event_type) VALUES (gen_random_uuid(), 'app') RETURNING id::text`,
    );
    expect(BigInt(app.rows[0].id)).toBe(BigInt(summary.maxId) + 1n);

    // Sparse again into the same table starts past everything already there.
    const more = await insertDemoRows(pool, { table, rows: 100, seed: 5, sparse: true });
    expect(BigInt(more.minId)).toBeGreaterThan(BigInt(app.rows[0].id));
  });

  it('rejects a bad row count with UsageError, before touching the database', async () => {
    const table = { schema: 'public', name: 'run_logs_never' };
    for (const rows of [0, -5, 1.5, Number.NaN, 100_000_001]) {
      await expect(insertDemoRows(pool, { table, rows })).rejects.toThrow(UsageError);
    }
    await expect(insertDemoRows(pool, { table, rows: 10, batchRows: 0 })).rejects.toThrow(UsageError);
    const exists = await pool.query('SELECT to_regclass($1) AS t', [qualified(table)]);
    expect(exists.rows[0].t).toBeNull();
  });
});
