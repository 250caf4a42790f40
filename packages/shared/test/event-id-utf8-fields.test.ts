// eventIdOfUtf8Fields (the backfill's byte path) against eventIdOfJsonText of the decoded row: equal
// whenever it answers, and it answers for every row it claims to take.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJsonText,
  eventIdOfJsonText,
  eventIdOfUtf8Fields,
  tryEventIdOfJsonText,
  type Utf8Fields,
  writeEventIdOfUtf8Fields,
} from '../src/event-id/index.js';

interface TextRow {
  run_id: string | null;
  event_type: string | null;
  level: string | null;
  message: string | null;
  data: string | null;
}

/** The row's fields laid out one after the other in one buffer, with junk between (as in a COPY tuple). */
function layout(row: TextRow, raw: Partial<Record<keyof TextRow, Buffer>> = {}): Utf8Fields {
  const parts: Buffer[] = [];
  let at = 0;
  const place = (key: keyof TextRow): [number, number] => {
    const junk = Buffer.from([0xff, 0x00, 0x22, 0x5c]);
    parts.push(junk);
    at += junk.length;
    const v = raw[key] ?? (row[key] === null ? null : Buffer.from(row[key]!, 'utf8'));
    if (v === null) return [-1, -1];
    parts.push(v);
    const start = at;
    at += v.length;
    return [start, at];
  };
  const [runId, runIdEnd] = place('run_id');
  const [eventType, eventTypeEnd] = place('event_type');
  const [level, levelEnd] = place('level');
  const [message, messageEnd] = place('message');
  const [data, dataEnd] = place('data');
  parts.push(Buffer.from('5 ]}" e1')); // bytes after the last field that would extend a number or a text
  return {
    bytes: Buffer.concat(parts),
    runId,
    runIdEnd,
    eventType,
    eventTypeEnd,
    level,
    levelEnd,
    message,
    messageEnd,
    data,
    dataEnd,
  };
}

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('', 'info', 'tab\there', 'quote"back\\slash', '\u0001\u001f\u007f\u2028', 'é東京😀'),
);
const json = fc
  .oneof(fc.jsonValue(), fc.jsonValue({ stringUnit: 'binary' }), fc.jsonValue({ stringUnit: 'grapheme' }))
  .chain((v) =>
    fc.constantFrom(JSON.stringify(v), JSON.stringify(v, null, 1), JSON.stringify(v).replaceAll(',', ', ')),
  );
const row: fc.Arbitrary<TextRow> = fc.record({
  run_id: fc.oneof(
    fc.uuid(),
    fc.uuid().map((u) => u.toUpperCase()),
    fc.constantFrom('not-a-uuid', '', '{7d444840-9dc0-11d1-b245-5ffdce74fad2}'),
  ),
  event_type: text,
  level: text,
  message: fc.option(text, { nil: null }),
  data: fc.option(fc.oneof(json, fc.string()), { nil: null }),
});

function expectAgrees(r: TextRow, fields: Utf8Fields): string | undefined {
  const got = eventIdOfUtf8Fields(fields);
  if (got !== undefined) expect(got).toBe(eventIdOfJsonText(r as never));
  // The same id written into a buffer, and nothing written where there is none.
  const target = Buffer.alloc(40, 0x2a);
  expect(writeEventIdOfUtf8Fields(fields, target, 2)).toBe(got !== undefined);
  expect(target.toString('latin1')).toBe(got === undefined ? '*'.repeat(40) : `**${got}**`);
  return got;
}

describe('eventIdOfUtf8Fields', () => {
  it('equals eventIdOfJsonText of the decoded row whenever it answers', () => {
    fc.assert(
      fc.property(row, (r) => {
        expectAgrees(r, layout(r));
      }),
      { numRuns: 600 },
    );
    // A data text that is only a number or a string, right before bytes that would extend it.
    for (const data of ['12', '-0', '1.5', '"s"', 'true', '[]', '{}']) {
      const r = {
        run_id: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
        event_type: 'e',
        level: 'l',
        message: null,
        data,
      };
      expect(expectAgrees(r, layout(r))).toBeDefined();
    }
  });

  it('answers for every valid row with a fast data text, whatever the texts hold', () => {
    const valid = fc.record({
      run_id: fc.uuid().chain((u) => fc.constantFrom(u, u.toUpperCase())),
      event_type: text,
      level: text,
      message: fc.option(text, { nil: null }),
      // data texts the text fast path takes (canonical-json-text.test.ts covers which those are)
      data: fc.option(
        fc
          .jsonValue()
          .map((v) => JSON.stringify(v))
          .filter((t) => canonicalJsonText(t) !== undefined),
        { nil: null },
      ),
    });
    fc.assert(
      fc.property(valid, (r) => {
        expect(tryEventIdOfJsonText(r).ok).toBe(true);
        expect(expectAgrees(r, layout(r))).toBeDefined();
      }),
      { numRuns: 400 },
    );
  });

  it('leaves rows with a NULL where a text is required, or a run_id that is not a UUID, to the decoded path', () => {
    const ok: TextRow = {
      run_id: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
      event_type: 'e',
      level: 'info',
      message: null,
      data: '{"a": 1}',
    };
    expect(expectAgrees(ok, layout(ok))).toBeDefined();
    for (const bad of [
      { ...ok, run_id: null },
      { ...ok, event_type: null },
      { ...ok, level: null },
      { ...ok, run_id: '7d444840-9dc0-11d1-b245-5ffdce74fad' },
      { ...ok, run_id: '7d444840x9dc0-11d1-b245-5ffdce74fad2' },
      { ...ok, run_id: '7d444840-9dc0-11d1-b245-5ffdce74fadg' },
    ]) {
      expect(eventIdOfUtf8Fields(layout(bad))).toBeUndefined();
    }
  });

  it('leaves invalid UTF-8 (a SQL_ASCII database) to the decoded path, which sees U+FFFD as node-pg does', () => {
    const ok: TextRow = {
      run_id: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
      event_type: 'e',
      level: 'info',
      message: 'm',
      data: '{"a": "x"}',
    };
    const invalid = [Buffer.from([0x61, 0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80])];
    for (const bytes of invalid) {
      for (const key of ['event_type', 'level', 'message'] as const) {
        expect(eventIdOfUtf8Fields(layout(ok, { [key]: bytes }))).toBeUndefined();
      }
      const data = Buffer.concat([Buffer.from('{"a": "'), bytes, Buffer.from('"}')]);
      expect(eventIdOfUtf8Fields(layout(ok, { data }))).toBeUndefined();
    }
  });
});
