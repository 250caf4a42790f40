// The integration path for applications that insert rows themselves, through PostgreSQL: a row inserted
// with prepareRunLogInsert's values and read back the way the backfill reads it (data::text, JSON.parse)
// has exactly the event_id that was inserted with it, for any JSON data.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test-support/db.js';
import { EventIdError, eventId, type JsonValue, prepareRunLogInsert } from '../src/event-id/index.js';

const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }));
const rows = fc.record({
  run_id: fc.uuid().chain((u) => fc.constantFrom(u, u.toUpperCase())),
  event_type: text,
  level: fc.oneof(fc.constantFrom('debug', 'info', 'warn', 'error'), text),
  message: fc.option(text, { nil: null }),
  data: fc.option(
    fc.oneof(
      fc.jsonValue(),
      fc.jsonValue({ stringUnit: 'grapheme' }),
      fc.jsonValue({ stringUnit: 'binary' }),
    ),
    { nil: null },
  ) as fc.Arbitrary<JsonValue | null>,
});

describe('prepareRunLogInsert through PostgreSQL', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: await freshDatabase('shared_for_insert_pg') });
    await client.connect();
    await client.query(`CREATE TABLE run_logs (
      id bigserial PRIMARY KEY, run_id uuid NOT NULL, "timestamp" timestamptz NOT NULL DEFAULT now(),
      level text NOT NULL DEFAULT 'info', event_type text NOT NULL, message text, data jsonb, event_id varchar)`);
  });
  afterAll(() => client?.end());

  it('what the backfill computes from the stored row is the id inserted, for every row it accepts', async () => {
    const sample = fc.sample(rows, { numRuns: 400 });
    let accepted = 0;
    for (const r of sample) {
      let p: ReturnType<typeof prepareRunLogInsert>;
      try {
        p = prepareRunLogInsert(r);
      } catch (err) {
        // Only what PostgreSQL could not store, or event-id refuses (lone surrogates), is refused.
        expect(err).toBeInstanceOf(EventIdError);
        continue;
      }
      accepted++;
      const { rows: back } = await client.query(
        `INSERT INTO run_logs (run_id, level, event_type, message, data, event_id)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6)
         RETURNING run_id, level, event_type, message, data::text AS data, event_id`,
        [p.run_id, p.level, p.event_type, p.message, p.data, p.event_id],
      );
      const stored = back[0];
      const asBackfillReadsIt = { ...stored, data: stored.data === null ? null : JSON.parse(stored.data) };
      expect(eventId(asBackfillReadsIt)).toBe(stored.event_id);
    }
    expect(accepted).toBeGreaterThan(300);
  });
});
