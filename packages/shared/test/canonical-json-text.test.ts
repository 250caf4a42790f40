// canonicalJsonText (the backfill's fast path from jsonb text) against canonicalJson(JSON.parse(text)),
// and eventIdOfJsonText against eventId of the parsed row: equal whenever the fast path answers, and
// the fast path answers for every form it claims (so a fast path that always gave up would fail here).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  canonicalJsonText,
  EventIdError,
  eventId,
  eventIdOfJsonText,
  type JsonValue,
  tryEventId,
  tryEventIdOfJsonText,
} from '../src/event-id/index.js';

const NUM_RUNS = 400;
const RUN_ID = '7d444840-9dc0-11d1-b245-5ffdce74fad2';

/** The slow path: what the backfill did before, and what the fast path must equal. */
function slow(text: string): string | EventIdError {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return new EventIdError('data', `not valid JSON (${(err as Error).message})`);
  }
  try {
    return canonicalJson(v);
  } catch (err) {
    if (err instanceof EventIdError) return err;
    throw err;
  }
}

/** Whether the fast path is meant to take this value (the forms it documents). */
function fastForm(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return !v.includes('\ufffd');
  if (Array.isArray(v)) return depth < 64 && v.every((x) => fastForm(x, depth + 1));
  if (v !== null && typeof v === 'object') {
    return (
      depth < 64 &&
      Object.entries(v).every(
        // no escape in a key, no character at or above U+E000 (UTF-16 surrogates included)
        ([k, x]) => !/["\\\u0000-\u001f\ud800-\udfff\ue000-\uffff]/.test(k) && fastForm(x, depth + 1),
      )
    );
  }
  return true;
}

/** JSON text as PostgreSQL's jsonb prints it: `", "` and `": "`, keys by length then bytes. */
function jsonbStyle(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonbStyle).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort((a, b) => {
      const ab = Buffer.from(a);
      const bb = Buffer.from(b);
      return ab.length - bb.length || Buffer.compare(ab, bb);
    });
    return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbStyle((v as Record<string, unknown>)[k])}`).join(', ')}}`;
  }
  return JSON.stringify(v);
}

const values: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.jsonValue({ stringUnit: 'binary' }),
  fc.jsonValue({ stringUnit: 'grapheme', maxDepth: 6 }),
  fc.jsonValue({ stringUnit: 'binary-ascii' }),
);

function expectSame(text: string): void {
  const fast = canonicalJsonText(text);
  const expected = slow(text);
  if (fast !== undefined) expect(fast).toBe(expected);
  const row = { run_id: RUN_ID, event_type: 'e', level: 'info', message: null, data: text };
  const got = tryEventIdOfJsonText(row);
  if (typeof expected === 'string') {
    expect(got).toEqual({ ok: true, eventId: eventId({ ...row, data: JSON.parse(text) as JsonValue }) });
  } else {
    expect(got.ok).toBe(false);
    if (!got.ok) expect(got.error.message).toBe(expected.message);
  }
}

describe('canonicalJsonText', () => {
  it('equals canonicalJson(JSON.parse(text)) for compact and jsonb-style texts, and takes every fast form', () => {
    fc.assert(
      fc.property(values, (v) => {
        for (const text of [JSON.stringify(v), jsonbStyle(v)]) {
          expectSame(text);
          if (fastForm(v)) expect(canonicalJsonText(text)).toBe(canonicalJson(v));
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('prints numbers as the double they parse to, whatever digits the text has', () => {
    // jsonb keeps the digits it was given (numeric), so its text can have more than the double has.
    const digits = fc
      .tuple(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: 1, max: 21 }),
        fc.boolean(),
      )
      .map(([d, p, exp]) => (exp ? d.toExponential(p - 1) : d.toPrecision(p)))
      .filter((t) => Number.isFinite(Number(t)));
    fc.assert(
      fc.property(fc.array(digits, { minLength: 1, maxLength: 5 }), (ts) => {
        const text = `[${ts.join(', ')}]`;
        expect(canonicalJsonText(text)).toBe(canonicalJson(JSON.parse(text)));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('never answers wrongly for texts that are not JSON, or not in a fast form', () => {
    const edited = fc
      .tuple(
        values,
        fc.nat(),
        fc.constantFrom('', ' ', '\n', '\\', '"', ',', '}', ']', 'e', '0', '-', '\u00e9'),
      )
      .map(([v, at, insert]) => {
        const t = jsonbStyle(v);
        const i = at % (t.length + 1);
        return t.slice(0, i) + insert + t.slice(i);
      });
    fc.assert(fc.property(fc.oneof(edited, fc.string(), fc.string({ unit: 'binary' })), expectSame), {
      numRuns: NUM_RUNS * 2,
    });
  });

  it.each([
    // numbers: copied when already ECMAScript's shortest form, otherwise printed from the double
    [
      '[0, -1, 15, 123456789012345, 4.953, -0.5, 0.000001, 1.5]',
      '[0,-1,15,123456789012345,4.953,-0.5,0.000001,1.5]',
    ],
    ['[-0, 0.0, 1.50, 1.0, 100.000]', '[0,0,1.5,1,100]'],
    ['[0.0000001, 1e-7, 1E5, 1e21, 1e+21, 123e-2]', '[1e-7,1e-7,100000,1e+21,1e+21,1.23]'],
    [
      '[9007199254740993, 1234567890123456, 0.1234567890123456789]',
      '[9007199254740992,1234567890123456,0.12345678901234568]',
    ],
    ['[123456789012345678901234567890]', '[1.2345678901234568e+29]'],
    ['[0.30000000000000001, 1.0000000000000002, 0.1000000000000000055511]', '[0.3,1.0000000000000002,0.1]'],
    // members re-ordered by UTF-16 code units; nested objects each on their own
    ['{"b": 1, "a": {"d": [], "c": {}}, "aa": null}', '{"a":{"c":{},"d":[]},"aa":null,"b":1}'],
    ['{"é": 1, "z": 2, "東京": 3}', '{"z":2,"é":1,"東京":3}'],
    // strings copied with their escapes (the canonical ones)
    [
      '"tab\\there \\"q\\" back\\\\slash \\u001f \\u0000"',
      '"tab\\there \\"q\\" back\\\\slash \\u001f \\u0000"',
    ],
    ['[true, false, null, "", {}, []]', '[true,false,null,"",{},[]]'],
  ])('%s → %s', (text, canonical) => {
    expect(canonicalJsonText(text)).toBe(canonical);
    expect(slow(text)).toBe(canonical);
  });

  it.each([
    ['an escape JSON.stringify writes otherwise', '["\\/", "\\u00e9", "\\u001F", "\\u0009"]'],
    ['an escaped key', '{"a\\"b": 1}'],
    ['a key from U+E000 up (UTF-8 and UTF-16 order those apart)', '{"\ufb33": 1, "😀": 2, "€": 3}'],
    ['a key twice (JSON.parse keeps the last)', '{"a": 1, "a": 2}'],
    ['U+FFFD, which a lone surrogate also becomes in UTF-8', '"\ufffd"'],
    ['a lone surrogate', '"\ud800"'],
    ['whitespace other than spaces', '{\n"a":\t1}'],
    ['deep nesting', `${'['.repeat(70)}${']'.repeat(70)}`],
  ])('leaves %s to the parser, with the same result', (_why, text) => {
    expect(canonicalJsonText(text)).toBeUndefined();
    expectSame(text);
  });

  it.each([
    ['a number beyond the double range', '{"n": 1e400}', 'data.n: not a finite number (Infinity)'],
    ['trailing text', '{"a": 1} x', 'data: not valid JSON'],
    ['a raw control character in a string', '"a\u0001b"', 'data: not valid JSON'],
    ['a leading zero', '[01]', 'data: not valid JSON'],
    ['an unfinished string', '{"a": "b}', 'data: not valid JSON'],
  ])('refuses %s as the parser does', (_why, text, message) => {
    expect(canonicalJsonText(text)).toBeUndefined();
    const r = tryEventIdOfJsonText({
      run_id: RUN_ID,
      event_type: 'e',
      level: 'info',
      message: null,
      data: text,
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message.startsWith(message)).toBe(true);
    expectSame(text);
  });

  it('checks the other fields first and in the same order as eventId', () => {
    const bad = [
      { run_id: 'x', event_type: 1, level: 'info', message: null, data: 'oops' },
      { run_id: RUN_ID, event_type: 'e', level: 2, message: null, data: '{}' },
      { run_id: RUN_ID, event_type: 'e', level: 'info', message: 3, data: '{}' },
      { run_id: RUN_ID, event_type: 'e', level: 'info', message: null },
    ];
    for (const row of bad) {
      const got = tryEventIdOfJsonText(row as never);
      const parsed = 'data' in row ? { ...row, data: {} } : row;
      const want = tryEventId(parsed);
      expect(got.ok).toBe(false);
      expect(want.ok).toBe(false);
      if (!got.ok && !want.ok) expect(got.error.message).toBe(want.error.message);
    }
    expect(
      eventIdOfJsonText({ run_id: RUN_ID, event_type: 'e', level: 'info', message: 'm', data: null }),
    ).toBe(eventId({ run_id: RUN_ID, event_type: 'e', level: 'info', message: 'm', data: null }));
  });

  it('keeps nothing of one text in the next (scratch buffers are reused)', () => {
    const long = JSON.stringify({ k: 'x'.repeat(300_000), n: [1, 2, 3] });
    expect(canonicalJsonText(long)).toBeUndefined(); // longer than the fast path takes
    expectSame(long);
    const big = JSON.stringify({ k: 'y'.repeat(100_000) });
    expect(canonicalJsonText(big)).toBe(big);
    expect(canonicalJsonText('12')).toBe('12'); // a short text right after a long one: no stale digit
    expect(canonicalJsonText('1')).toBe('1');
  });
});
