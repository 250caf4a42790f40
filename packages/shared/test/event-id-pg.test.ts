// Round trip through PostgreSQL: rows stored in a run_logs-shaped table (uuid, text, jsonb) and read back with
// pg must get the same event_id as the objects they were written from.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test-support/db.js';
import {
  canonicalJson,
  canonicalJsonText,
  eventId,
  eventIdOfJsonText,
  type JsonValue,
} from '../src/event-id/index.js';

interface Row {
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  data: JsonValue | null;
}

const vectors = JSON.parse(readFileSync(new URL('./golden-vectors.json', import.meta.url), 'utf8')) as {
  name: string;
  input: Row;
}[];

/** PostgreSQL text and jsonb cannot hold U+0000. */
function hasNul(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (Array.isArray(v)) return v.some(hasNul);
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).some(([k, x]) => k.includes('\u0000') || hasNul(x));
  }
  return false;
}

const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }));
const generated = fc
  .record({
    run_id: fc.uuid().chain((u) => fc.constantFrom(u, u.toUpperCase())),
    event_type: text,
    level: fc.oneof(fc.constantFrom('debug', 'info', 'warn', 'error'), text),
    message: fc.option(text, { nil: null }),
    data: fc.option(
      fc.oneof(
        fc.jsonValue(),
        fc.jsonValue({ stringUnit: 'binary' }),
        fc.jsonValue({ stringUnit: 'grapheme' }),
      ),
      { nil: null },
    ) as fc.Arbitrary<JsonValue | null>,
  })
  .filter((r) => !hasNul(r));

describe('event-id v1 round trip through PostgreSQL', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: await freshDatabase('shared_event_id_pg') });
    await client.connect();
    await client.query(`
      CREATE TABLE run_logs (
        id bigserial PRIMARY KEY,
        run_id uuid NOT NULL,
        timestamp timestamptz NOT NULL DEFAULT now(),
        level text NOT NULL DEFAULT 'info',
        event_type text NOT NULL,
        message text,
        data jsonb
      )`);
  });

  afterAll(async () => {
    await client?.end();
  });

  it('gives rows read back from run_logs the ids of the objects they were written from', async () => {
    const golden = vectors.map((v) => v.input).filter((r) => !hasNul(r));
    expect(golden.length).toBeGreaterThanOrEqual(vectors.length - 2);
    const rows: Row[] = [...golden, ...fc.sample(generated, { numRuns: 300, seed: 20240501 })];

    const expected = new Map<string, string>();
    for (const [i, row] of rows.entries()) {
      // A JSON null in data is stored both ways: SQL NULL and jsonb 'null' both read back as null.
      const data = row.data === null && i % 2 === 0 ? null : JSON.stringify(row.data);
      const { rows: inserted } = await client.query<{ id: string }>(
        `INSERT INTO run_logs (run_id, level, event_type, message, data)
         VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id`,
        [row.run_id, row.level, row.event_type, row.message, data],
      );
      expected.set(inserted[0]!.id, eventId(row));
    }

    const { rows: readBack } = await client.query(
      'SELECT id, run_id, timestamp, level, event_type, message, data FROM run_logs ORDER BY id',
    );
    expect(readBack).toHaveLength(rows.length);
    for (const row of readBack) {
      expect(eventId(row), `row ${row.id}`).toBe(expected.get(row.id));
    }
  });

  it('documents jsonb numbers beyond a double: big integers round, 1e400 is a bad row', async () => {
    const runId = '6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b';
    const { rows } = await client.query(
      `INSERT INTO run_logs (run_id, event_type, message, data) VALUES
         ($1, 'n', 'ok', '{"n": 9007199254740993}'::jsonb),
         ($1, 'n', 'ok', '{"n": 1e400}'::jsonb),
         ($1, 'n', 'ok', '{"n": 1.50}'::jsonb)
       RETURNING id, run_id, timestamp, level, event_type, message, data, data::text AS stored`,
      [runId],
    );
    const base = { run_id: runId, event_type: 'n', level: 'info', message: 'ok' };
    expect(rows[0].stored).toBe('{"n": 9007199254740993}');
    expect(eventId(rows[0])).toBe(eventId({ ...base, data: { n: 9007199254740992 } }));
    expect(() => eventId(rows[1])).toThrow('data.n: not a finite number (Infinity)');
    expect(rows[2].stored).toBe('{"n": 1.50}');
    expect(eventId(rows[2])).toBe(eventId({ ...base, data: { n: 1.5 } }));
  });

  it('computes from jsonb text (the backfill fast path) the ids of the parsed rows, and takes the fast path', async () => {
    await client.query('TRUNCATE run_logs');
    const rows = fc.sample(generated, { numRuns: 400, seed: 20261207 });
    for (const row of rows) {
      await client.query(
        `INSERT INTO run_logs (run_id, level, event_type, message, data) VALUES ($1, $2, $3, $4, $5::jsonb)`,
        [
          row.run_id,
          row.level,
          row.event_type,
          row.message,
          row.data === null ? null : JSON.stringify(row.data),
        ],
      );
    }
    // Numbers whose jsonb text is not the double's shortest form.
    await client.query(
      `INSERT INTO run_logs (run_id, event_type, message, data) VALUES
         (gen_random_uuid(), 'n', null, '{"a": 1.50, "b": 1e-7, "c": 12345678901234567890, "d": 0.30000000000000001, "e": -0.0}'::jsonb),
         (gen_random_uuid(), 'n', null, '{"long key": {"é": [1E2, 2.5e+3, true, null]}, "k": "\\u0001 \\" \\\\"}'::jsonb)`,
    );
    const { rows: readBack } = await client.query(
      'SELECT id, run_id, level, event_type, message, data::text AS text, data FROM run_logs ORDER BY id',
    );
    let fast = 0;
    for (const r of readBack) {
      const asText = {
        run_id: r.run_id,
        event_type: r.event_type,
        level: r.level,
        message: r.message,
        data: r.text,
      };
      expect(eventIdOfJsonText(asText), `row ${r.id}: ${r.text}`).toBe(eventId(r));
      if (r.text !== null && canonicalJsonText(r.text) !== undefined) {
        expect(canonicalJsonText(r.text)).toBe(canonicalJson(r.data));
        fast++;
      }
    }
    // Only keys with escapes, keys from U+E000 up and U+FFFD in strings leave it (fast-check makes many).
    expect(fast).toBeGreaterThan(readBack.length * 0.5);
    expect(canonicalJsonText(readBack.at(-2)!.text)).toBe(
      '{"a":1.5,"b":1e-7,"c":12345678901234567000,"d":0.3,"e":0}',
    );
    expect(canonicalJsonText(readBack.at(-1)!.text)).toBe(
      '{"k":"\\u0001 \\" \\\\","long key":{"é":[100,2500,true,null]}}',
    );
  });
});
