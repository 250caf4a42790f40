// Rows that cannot have an event_id: each gives an EventIdError naming the offending field.
import { describe, expect, it } from 'vitest';
import {
  canonicalEvent,
  canonicalJson,
  EventIdError,
  eventId,
  MAX_DEPTH,
  tryEventId,
} from '../src/event-id/index.js';

const good = () => ({
  run_id: '6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b',
  event_type: 'step.finished',
  level: 'info',
  message: 'ok' as string | null,
  data: { a: 1 } as unknown,
});

function errorOf(row: unknown): EventIdError {
  const result = tryEventId(row);
  if (result.ok) throw new Error(`expected an error, got ${result.eventId}`);
  expect(result.error).toBeInstanceOf(EventIdError);
  expect(() => eventId(row)).toThrow(EventIdError);
  expect(() => canonicalEvent(row)).toThrow(EventIdError);
  return result.error;
}

function without(key: string): Record<string, unknown> {
  const row: Record<string, unknown> = good();
  delete row[key];
  return row;
}

function withData(data: unknown): Record<string, unknown> {
  return { ...good(), data };
}

const cyclic = () => {
  const a: Record<string, unknown> = { x: 1 };
  const b: Record<string, unknown> = { a };
  a.b = b;
  return { root: [0, a] };
};

const deep = (levels: number) => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
};

const cases: [name: string, row: unknown, field: string, reason: RegExp][] = [
  ['row is null', null, 'row', /not an object \(null\)/],
  ['row is an array', [1], 'row', /not an object \(array\)/],
  ['row is a string', '{}', 'row', /not an object \(string\)/],
  ['missing run_id', without('run_id'), 'run_id', /missing/],
  ['missing event_type', without('event_type'), 'event_type', /missing/],
  ['missing level', without('level'), 'level', /missing/],
  ['missing message', without('message'), 'message', /missing/],
  ['missing data', without('data'), 'data', /missing/],
  ['inherited, not own, data', Object.assign(Object.create({ data: 1 }), without('data')), 'data', /missing/],
  ['run_id not a UUID', { ...good(), run_id: 'not-a-uuid' }, 'run_id', /^not a UUID/],
  ['run_id empty', { ...good(), run_id: '' }, 'run_id', /^not a UUID/],
  [
    'run_id without hyphens',
    { ...good(), run_id: '6f1c2b9e3a4d4e5f8a7b9c0d1e2f3a4b' },
    'run_id',
    /^not a UUID/,
  ],
  [
    'run_id in braces',
    { ...good(), run_id: '{6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b}' },
    'run_id',
    /^not a UUID/,
  ],
  [
    'run_id with trailing space',
    { ...good(), run_id: '6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b ' },
    'run_id',
    /UUID/,
  ],
  ['run_id a number', { ...good(), run_id: 42 }, 'run_id', /not a UUID string \(number\)/],
  ['run_id null', { ...good(), run_id: null }, 'run_id', /\(null\)/],
  ['event_type a number', { ...good(), event_type: 7 }, 'event_type', /not a string \(number\)/],
  ['event_type null', { ...good(), event_type: null }, 'event_type', /not a string \(null\)/],
  ['level undefined', { ...good(), level: undefined }, 'level', /not a string \(undefined\)/],
  ['message a number', { ...good(), message: 1 }, 'message', /not a string or null \(number\)/],
  ['message undefined', { ...good(), message: undefined }, 'message', /not a string or null/],
  [
    'lone surrogate in event_type',
    { ...good(), event_type: 'a\ud800' },
    'event_type',
    /lone surrogate U\+D800 at index 1/,
  ],
  [
    'lone surrogate in message',
    { ...good(), message: '\udc00x' },
    'message',
    /lone surrogate U\+DC00 at index 0/,
  ],
  ['data undefined', withData(undefined), 'data', /undefined is not a JSON value/],
  [
    'Infinity',
    withData({ a: { b: [1, 2, Number.POSITIVE_INFINITY] } }),
    'data.a.b[2]',
    /^not a finite number \(Infinity\)$/,
  ],
  ['-Infinity', withData([Number.NEGATIVE_INFINITY]), 'data[0]', /not a finite number \(-Infinity\)/],
  ['NaN', withData({ n: Number.NaN }), 'data.n', /not a finite number \(NaN\)/],
  [
    'lone surrogate in a string',
    withData({ s: ['ok', 'x\ud83d'] }),
    'data.s[1]',
    /lone surrogate U\+D83D at index 1/,
  ],
  ['reversed surrogate pair', withData('\ude00\ud83d'), 'data', /lone surrogate U\+DE00 at index 0/],
  [
    'lone surrogate in a key',
    withData({ ok: { 'k\udfff': 1 } }),
    'data.ok["k\\udfff"]',
    /object key has a lone surrogate U\+DFFF/,
  ],
  ['bigint', withData({ n: 10n }), 'data.n', /bigint is not a JSON value \(10n\)/],
  ['undefined inside data', withData({ a: 1, u: undefined }), 'data.u', /undefined is not a JSON value/],
  ['undefined array element', withData([1, undefined]), 'data[1]', /undefined is not a JSON value/],
  // biome-ignore lint/suspicious/noSparseArray: a hole is exactly what this case is about
  ['array hole', withData([1, , 3]), 'data[1]', /array hole/],
  ['function', withData({ f: () => 1 }), 'data.f', /function is not a JSON value/],
  ['toJSON method is not honoured', withData({ v: { toJSON: () => 1 } }), 'data.v.toJSON', /function/],
  ['symbol', withData({ s: Symbol('s') }), 'data.s', /symbol is not a JSON value/],
  ['Date', withData({ when: new Date(0) }), 'data.when', /not a plain object \(Date\)/],
  ['Map', withData(new Map()), 'data', /not a plain object \(Map\)/],
  ['class instance', withData([new (class Point {})()]), 'data[0]', /not a plain object \(Point\)/],
  ['boxed string', withData({ s: new String('x') }), 'data.s', /not a plain object \(String\)/],
  ['Uint8Array', withData({ b: new Uint8Array(2) }), 'data.b', /not a plain object \(Uint8Array\)/],
  [
    'array subclass',
    withData({ a: new (class Arr extends Array {})() }),
    'data.a',
    /not a plain array \(Arr\)/,
  ],
  [
    'cyclic object',
    withData(cyclic()),
    'data.root[1].b.a',
    /cyclic reference \(the same object as data.root\[1\]\)/,
  ],
  [
    'object containing itself',
    withData(
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
    ),
    'data.self',
    /cyclic reference \(the same object as data\)/,
  ],
  [
    'nesting deeper than the limit',
    withData(deep(MAX_DEPTH + 1)),
    `data${'[0]'.repeat(MAX_DEPTH)}`,
    /nested deeper than 1000 levels/,
  ],
  [
    'odd key in the path is quoted',
    withData({ 'a b': { 'c.d': [{ 0: Number.NaN }] } }),
    'data["a b"]["c.d"][0]["0"]',
    /NaN/,
  ],
];

describe('event-id v1 rejects bad rows', () => {
  it.each(cases)('%s', (_name, row, field, reason) => {
    const err = errorOf(row);
    expect(err.field).toBe(field);
    expect(err.reason).toMatch(reason);
    expect(err.message).toBe(`${field}: ${err.reason}`);
    expect(err.name).toBe('EventIdError');
  });

  it('accepts nesting right at the limit', () => {
    expect(tryEventId(withData(deep(MAX_DEPTH))).ok).toBe(true);
  });

  it('accepts null-prototype objects like plain ones', () => {
    const o = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: [true] });
    expect(eventId(withData(o))).toBe(eventId(withData({ a: [true], b: 1 })));
  });

  it('accepts a shared (non-cyclic) reference', () => {
    const shared = { x: [1] };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":[1]},"b":{"x":[1]}}');
  });

  it('reports the first error in canonical order and recovers for the next row', () => {
    expect(errorOf({ ...good(), run_id: 'x', level: 1 }).field).toBe('run_id');
    expect(tryEventId(good()).ok).toBe(true);
  });

  it('validates every run_id even when consecutive rows repeat one', () => {
    const upper = { ...good(), run_id: good().run_id.toUpperCase() };
    expect(eventId(upper)).toBe(eventId(good()));
    expect(eventId(upper)).toBe(eventId(good()));
    expect(errorOf({ ...good(), run_id: '' }).field).toBe('run_id');
    expect(errorOf({ ...good(), run_id: good().run_id.slice(1) }).field).toBe('run_id');
    expect(eventId({ ...good(), run_id: '00000000-0000-0000-0000-000000000000' })).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('does not swallow errors that are not EventIdError', () => {
    const row = good();
    Object.defineProperty(row, 'level', {
      enumerable: true,
      get() {
        throw new RangeError('boom');
      },
    });
    expect(() => tryEventId(row)).toThrow(RangeError);
  });
});
