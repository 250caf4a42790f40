// Property tests of event-id v1 against the reference implementations (canonicalize + uuid v5).
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import {
  canonicalEvent,
  EVENT_ID_NAMESPACE,
  EventIdError,
  eventId,
  type JsonValue,
  tryEventId,
} from '../src/event-id/index.js';

const NUM_RUNS = 300;
const CANONICAL_KEYS = ['run_id', 'event_type', 'level', 'message', 'data'] as const;
const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Event {
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  data: JsonValue | null;
}

// ASCII-only and full-Unicode strings (fc 'binary' strings are well formed: no lone surrogates).
const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }));
const data: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.jsonValue() as fc.Arbitrary<JsonValue>,
  fc.jsonValue({ stringUnit: 'binary' }) as fc.Arbitrary<JsonValue>,
  fc.jsonValue({ stringUnit: 'grapheme', maxDepth: 6 }) as fc.Arbitrary<JsonValue>,
);
const runId = fc.uuid().chain((u) => fc.constantFrom(u, u.toUpperCase()));
const event: fc.Arbitrary<Event> = fc.record({
  run_id: runId,
  event_type: fc.oneof(fc.constantFrom('step.started', 'tool.call', ''), text),
  level: fc.oneof(fc.constantFrom('debug', 'info', 'warn', 'error'), text),
  message: fc.option(text, { nil: null }),
  data: fc.option(data, { nil: null }),
});

function reference(e: Event): string {
  const canonical = canonicalize({
    run_id: e.run_id.toLowerCase(),
    event_type: e.event_type,
    level: e.level,
    message: e.message,
    data: e.data,
  })!;
  return uuidv5(canonical, EVENT_ID_NAMESPACE);
}

/** Deterministic shuffle driven by a fast-check seed. */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The same JSON value with the keys of every object inserted in another order. */
function permuteKeys(v: unknown, seed: number): unknown {
  if (Array.isArray(v)) return v.map((x, i) => permuteKeys(x, seed + i + 1));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of shuffled(Object.keys(v), seed)) {
    // defineProperty keeps a "__proto__" key an own data property, as JSON.parse makes it.
    Object.defineProperty(out, k, {
      value: permuteKeys((v as Record<string, unknown>)[k], seed * 31 + k.length),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const extraColumns = fc.dictionary(
  fc.string().filter((k) => !(CANONICAL_KEYS as readonly string[]).includes(k) && k !== '__proto__'),
  fc.oneof(fc.anything(), fc.date(), fc.bigInt(), fc.constant(undefined), fc.constant(Number.NaN)),
  { maxKeys: 4 },
);

describe('event-id v1 properties', () => {
  it('equals the reference (canonicalize + uuid v5) for any valid event', () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(eventId(e)).toBe(reference(e));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('canonicalEvent equals canonicalize of the five-key object', () => {
    fc.assert(
      fc.property(event, (e) => {
        const c = canonicalEvent(e);
        expect(c).toBe(canonicalize({ ...e, run_id: e.run_id.toLowerCase() }));
        expect(Object.keys(JSON.parse(c))).toEqual(['data', 'event_type', 'level', 'message', 'run_id']);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('ignores extra columns (timestamp, id, event_id, anything) and key order at any depth', () => {
    fc.assert(
      fc.property(
        event,
        extraColumns,
        fc.date({ noInvalidDate: true }),
        fc.oneof(fc.bigInt({ min: 1n }).map(String), fc.nat()),
        fc.nat(),
        (e, extra, timestamp, id, seed) => {
          const expected = eventId(e);
          const columns: Record<string, unknown> = {
            ...extra,
            id,
            timestamp,
            event_id: 'not-even-a-uuid',
            ...e,
            data: permuteKeys(e.data, seed),
          };
          const row: Record<string, unknown> = {};
          for (const k of shuffled(Object.keys(columns), seed)) row[k] = columns[k];
          expect(eventId(row)).toBe(expected);
          expect(eventId({ ...row, timestamp: new Date(timestamp.getTime() + 1) })).toBe(expected);
          expect(eventId({ ...row, timestamp: timestamp.toISOString() })).toBe(expected);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('changes when any one of the five canonical fields changes', () => {
    const change = fc.oneof(
      fc.record({ field: fc.constant('run_id' as const), value: fc.uuid() as fc.Arbitrary<unknown> }),
      fc.record({ field: fc.constant('event_type' as const), value: text as fc.Arbitrary<unknown> }),
      fc.record({ field: fc.constant('level' as const), value: text as fc.Arbitrary<unknown> }),
      fc.record({
        field: fc.constant('message' as const),
        value: fc.option(text, { nil: null }) as fc.Arbitrary<unknown>,
      }),
      fc.record({
        field: fc.constant('data' as const),
        value: fc.option(data, { nil: null }) as fc.Arbitrary<unknown>,
      }),
    );
    fc.assert(
      fc.property(event, change, (e, { field, value }) => {
        const before = e[field];
        const same =
          field === 'run_id'
            ? (value as string).toLowerCase() === e.run_id.toLowerCase()
            : field === 'data'
              ? canonicalize(value) === canonicalize(before)
              : value === before;
        fc.pre(!same);
        expect(eventId({ ...e, [field]: value })).not.toBe(eventId(e));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('always yields a lowercase RFC 4122 version-5 UUID', () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(eventId(e)).toMatch(UUID_V5);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('names the exact path of a non-JSON value planted anywhere in valid data', () => {
    const step = fc.oneof(fc.string({ maxLength: 6 }), fc.nat({ max: 3 }));
    const bad = fc.constantFrom<[unknown, RegExp]>(
      [Number.POSITIVE_INFINITY, /not a finite number/],
      [Number.NaN, /not a finite number/],
      [undefined, /undefined is not a JSON value/],
      [5n, /bigint/],
      ['x\ud800', /lone surrogate/],
      [new Date(0), /not a plain object \(Date\)/],
    );
    fc.assert(
      fc.property(event, fc.array(step, { maxLength: 6 }), bad, (e, path, [value, reason]) => {
        // Build data so that `path` leads to the bad value (arrays are padded with valid siblings).
        let planted: unknown = value;
        for (let i = path.length - 1; i >= 0; i--) {
          const k = path[i]!;
          if (typeof k === 'number') {
            const arr: unknown[] = Array.from({ length: k + 2 }, (_, j) => j);
            arr[k] = planted;
            planted = arr;
          } else {
            const obj: Record<string, unknown> = { sibling: [1, 'two', null] };
            Object.defineProperty(obj, k, {
              value: planted,
              enumerable: true,
              writable: true,
              configurable: true,
            });
            planted = obj;
          }
        }
        const expectedField =
          'data' +
          path
            .map((k) =>
              typeof k === 'number'
                ? `[${k}]`
                : /^[A-Za-z_$][\w$]*$/.test(k)
                  ? `.${k}`
                  : `[${JSON.stringify(k)}]`,
            )
            .join('');
        const result = tryEventId({ ...e, data: planted });
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.error).toBeInstanceOf(EventIdError);
          expect(result.error.field).toBe(expectedField);
          expect(result.error.reason).toMatch(reason);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
