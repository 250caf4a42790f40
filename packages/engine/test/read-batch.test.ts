// The batch read (COPY … (FORMAT binary), ids computed from the bytes) against the definition: the
// event_id of each row as node-pg returns it from a plain SELECT (jsonb parsed by JSON.parse). Every
// column type the table checks accept, bad rows, and a SQL_ASCII database whose texts need not be UTF-8.
import { BinaryCopyError, BinaryCopyReader, readComputedBatch } from '@backfill/engine/backfill';
import { tryEventId } from '@backfill/shared/event-id';
import fc from 'fast-check';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL, freshDatabase, quoteIdent, withClient } from '../../../test-support/db.js';

const TABLE = { schema: 'public', name: 'run_logs' };

/** PostgreSQL text and jsonb cannot hold U+0000. */
const noNul = (s: string) => !s.includes('\u0000');
const text = fc
  .oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }))
  .filter(noNul);
const data = fc
  .oneof(fc.jsonValue(), fc.jsonValue({ stringUnit: 'binary' }), fc.jsonValue({ stringUnit: 'grapheme' }))
  .map((v) => JSON.stringify(v))
  .filter((t) => noNul(t) && !t.includes('\\u0000'));
const rows = fc.sample(
  fc.record({
    run_id: fc.uuid().chain((u) => fc.constantFrom(u, u.toUpperCase())),
    event_type: text,
    level: text,
    message: fc.option(text, { nil: null }),
    data: fc.option(data, { nil: null }),
  }),
  { numRuns: 500, seed: 20261207 },
);

/** What event-id v1 says each row's id is, from a plain SELECT; bad rows by their error. */
async function expected(c: pg.Client) {
  const { rows: read } = await c.query(
    'SELECT id, run_id, event_type, level, message, data FROM run_logs ORDER BY id',
  );
  return read.map((r) => {
    const res = tryEventId(r);
    return res.ok ? { id: String(r.id), eventId: res.eventId } : { id: String(r.id), bad: res.error.message };
  });
}

async function readAll(c: pg.Client, limit = 100_000) {
  const { batch } = await readComputedBatch(c, TABLE, 0n, 10n ** 12n, limit);
  return [
    ...batch.ids.map((id, i) => ({ id, eventId: batch.eventIds.at(i) })),
    ...batch.bad.map((b) => ({ id: b.id, bad: b.reason })),
  ].sort((a, b) => Number(a.id) - Number(b.id));
}

async function insertRows(c: pg.Client, cast: string): Promise<void> {
  for (const r of rows) {
    await c.query(
      `INSERT INTO run_logs (run_id, event_type, level, message, data) VALUES ($1, $2, $3, $4, $5::${cast})`,
      [r.run_id, r.event_type, r.level, r.message, r.data],
    );
  }
}

describe('readComputedBatch', () => {
  let url: string;
  beforeAll(async () => {
    url = await freshDatabase('engine_read_batch');
  });

  it('gives every row of a run_logs table (uuid, text, jsonb) the id event-id v1 defines', async () => {
    await withClient(url, async (c) => {
      await c.query(`CREATE TABLE run_logs (id bigserial PRIMARY KEY, run_id uuid NOT NULL, event_type text NOT NULL,
        level text NOT NULL, message text, data jsonb, event_id varchar)`);
      await insertRows(c, 'jsonb');
      await c.query(`INSERT INTO run_logs (run_id, event_type, level, message, data) VALUES
        (gen_random_uuid(), 'n', 'info', null, '{"n": 1e400}'),
        (gen_random_uuid(), 'n', 'info', 'x', 'null'),
        (gen_random_uuid(), 'n', 'info', E'tab\\there "q" \\\\', '{"z": 1.50, "a": [1e-7, 12345678901234567890]}')`);
      const want = await expected(c);
      expect(want.filter((w) => 'bad' in w)).toHaveLength(1);
      expect(await readAll(c)).toEqual(want);
      // In several batches, and with a limit: the cursor and the limit are the statement's.
      const { batch } = await readComputedBatch(c, TABLE, 100n, 200n, 50);
      expect(batch.ids).toEqual(want.slice(100, 150).map((w) => w.id));
      expect(batch.lastId).toBe(150n);
    });
  });

  it('takes the other column types the table checks accept: integer id, text run_id, varchar texts, json data', async () => {
    await withClient(url, async (c) => {
      await c.query('DROP TABLE run_logs');
      await c.query(`CREATE TABLE run_logs (id serial PRIMARY KEY, run_id text NOT NULL, event_type varchar(2000),
        level varchar, message varchar, data json, event_id text)`);
      await insertRows(c, 'json');
      await c.query(`INSERT INTO run_logs (run_id, event_type, level, message, data) VALUES
        ('not a uuid', 'e', 'info', null, null),
        ('7D444840-9DC0-11D1-B245-5FFDCE74FAD2', 'e', 'info', null, '{"b": 1,  "a": 2, "a": 3}'),
        ('7d444840-9dc0-11d1-b245-5ffdce74fad2', null, 'info', null, '[1.0, "\\u00e9\\/"]')`);
      const want = await expected(c);
      expect(want.filter((w) => 'bad' in w)).toHaveLength(2);
      expect(await readAll(c)).toEqual(want);
    });
  });

  it('in a SQL_ASCII database, refuses a text that is not UTF-8 as a plain SELECT does (no id from other bytes)', async () => {
    const asciiUrl = await freshDatabase('engine_read_batch_ascii');
    const name = new URL(asciiUrl).pathname.slice(1);
    await withClient(ADMIN_URL, async (a) => {
      await a.query(`DROP DATABASE ${quoteIdent(name)}`);
      await a.query(
        `CREATE DATABASE ${quoteIdent(name)} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
      );
    });
    await withClient(asciiUrl, async (c) => {
      await c.query(`CREATE TABLE run_logs (id bigserial PRIMARY KEY, run_id uuid NOT NULL, event_type text NOT NULL,
        level text NOT NULL, message text, data jsonb, event_id varchar)`);
      await c.query(`INSERT INTO run_logs (run_id, event_type, level, message, data) VALUES
        (gen_random_uuid(), 'ok', 'info', 'é in UTF-8', '{"k": "東京"}')`);
      const want = await expected(c);
      expect(want.every((w) => 'eventId' in w)).toBe(true);
      expect(await readAll(c)).toEqual(want);
      await c.query(`INSERT INTO run_logs (run_id, event_type, level, message, data) VALUES
        (gen_random_uuid(), E'bad \\xff byte', 'info', null, null)`);
      await expect(expected(c)).rejects.toThrow(/invalid byte sequence for encoding "UTF8"/);
      await expect(readAll(c)).rejects.toThrow(/invalid byte sequence for encoding "UTF8"/);
    });
  });
});

describe('BinaryCopyReader', () => {
  let stream: Buffer;
  let whole: string[][];
  const collect = (chunks: Buffer[]) => {
    const out: string[][] = [];
    const reader = new BinaryCopyReader(3, (bytes, f) => {
      out.push(
        [0, 1, 2].map((i) => (f[2 * i]! < 0 ? 'NULL' : bytes.toString('hex', f[2 * i], f[2 * i + 1]))),
      );
    });
    for (const c of chunks) reader.push(c);
    reader.finish();
    return out;
  };

  beforeAll(async () => {
    // A real stream: NULLs, empty texts, and a field longer than any socket chunk.
    stream = await withClient(ADMIN_URL, async (c) => {
      const copy = c.query(
        copyTo(`COPY (SELECT i::int8, CASE WHEN i % 3 = 0 THEN NULL ELSE repeat('é', i % 7) END, CASE WHEN i = 5
          THEN repeat('x', 300000) ELSE '' END FROM generate_series(1, 40) i) TO STDOUT (FORMAT binary)`),
      );
      const chunks: Buffer[] = [];
      for await (const chunk of copy) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    whole = collect([stream]);
  });

  afterAll(() => {});

  it('reads every tuple, NULLs included, however the stream is cut', () => {
    expect(whole).toHaveLength(40);
    expect(whole[2]![1]).toBe('NULL');
    expect(whole[4]![2]).toHaveLength(600000);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...[...new Set(cuts)].sort((a, b) => a - b), stream.length];
        const chunks = points.slice(1).map((p, i) => stream.subarray(points[i], p));
        expect(collect(chunks)).toEqual(whole);
      }),
      { numRuns: 100 },
    );
    // A byte at a time through the header and the first tuples.
    const bytewise: Buffer[] = [...stream.subarray(0, 200)].map((b) => Buffer.from([b]));
    expect(collect([...bytewise, stream.subarray(200)])).toEqual(whole);
  });

  it('refuses a stream that ends early, is not binary COPY, or has another number of fields', () => {
    expect(() => collect([stream.subarray(0, stream.length - 1)])).toThrow(BinaryCopyError);
    expect(() => collect([Buffer.from('not a copy stream at all')])).toThrow(/signature/);
    const two = new BinaryCopyReader(2, () => {});
    expect(() => two.push(stream)).toThrow(/3 fields where 2/);
  });
});
