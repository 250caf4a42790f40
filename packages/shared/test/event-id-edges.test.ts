// event-id v1 at the edges event-id-errors.test.ts leaves open: reasons that one regex would confuse,
// object nesting at the depth limit, type names and previews in messages, uuidV5's own errors, and the
// first row a fresh process sees.
import { describe, expect, it, vi } from 'vitest';
import {
  canonicalJson,
  EVENT_ID_NAMESPACE,
  type EventIdError,
  MAX_DEPTH,
  tryEventId,
  uuidV5,
} from '../src/event-id/index.js';

const good = () => ({
  run_id: '6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b',
  event_type: 'step.finished',
  level: 'info',
  message: 'ok' as string | null,
  data: { a: 1 } as unknown,
});

function errorOf(row: unknown): EventIdError {
  const r = tryEventId(row);
  if (r.ok) throw new Error(`expected an error, got ${r.eventId}`);
  return r.error;
}

const dataError = (data: unknown) => errorOf({ ...good(), data });

describe('reasons, exactly', () => {
  it('an undefined element is not an array hole, and the other way round', () => {
    expect(dataError([1, undefined]).reason).toBe('undefined is not a JSON value');
    // biome-ignore lint/suspicious/noSparseArray: a hole is exactly what this case is about
    expect(dataError([1, , 3]).reason).toBe('array hole (undefined is not a JSON value)');
    expect(dataError({ u: undefined }).reason).toBe('undefined is not a JSON value');
    expect(dataError(undefined).reason).toBe('undefined is not a JSON value');
  });

  it('functions and symbols', () => {
    expect(dataError({ f: () => 1 }).reason).toBe('a function is not a JSON value');
    expect(dataError([Symbol('s')]).reason).toBe('a symbol is not a JSON value');
  });

  it('canonicalJson names the root `data` unless told otherwise', () => {
    const at = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as EventIdError).field;
      }
      throw new Error('expected an EventIdError');
    };
    expect(at(() => canonicalJson(undefined))).toBe('data');
    expect(at(() => canonicalJson({ x: [Number.NaN] }))).toBe('data.x[0]');
    expect(at(() => canonicalJson(Number.NaN, 'payload'))).toBe('payload');
  });
});

describe('object nesting at the depth limit', () => {
  const nested = (levels: number) => {
    let v: unknown = 1;
    for (let i = 0; i < levels; i++) v = { a: v };
    return v;
  };

  it('accepts objects nested exactly MAX_DEPTH deep and refuses one more, naming the path', () => {
    expect(tryEventId({ ...good(), data: nested(MAX_DEPTH) }).ok).toBe(true);
    const err = dataError(nested(MAX_DEPTH + 1));
    expect(err.field).toBe(`data${'.a'.repeat(MAX_DEPTH)}`);
    expect(err.reason).toBe(`nested deeper than ${MAX_DEPTH} levels`);
  });
});

describe('type names and previews in messages', () => {
  it('calls plain and null-prototype objects "object"', () => {
    expect(errorOf({ ...good(), run_id: {} }).reason).toBe('not a UUID string (object)');
    expect(errorOf({ ...good(), level: Object.create(null) }).reason).toBe('not a string (object)');
    expect(errorOf({ ...good(), event_type: [] }).reason).toBe('not a string (array)');
  });

  it('names an instance without a usable constructor name by its tag', () => {
    expect(dataError({ v: new (class {})() }).reason).toBe('not a plain object (Object)');
    expect(dataError({ v: Object.create(Object.create(null)) }).reason).toBe('not a plain object (Object)');
    expect(dataError({ v: Object.create(Object.create(null)) }).field).toBe('data.v');
  });

  it('quotes a bad run_id whole up to 40 characters, and cut with … beyond', () => {
    const x = (n: number) => 'x'.repeat(n);
    expect(errorOf({ ...good(), run_id: x(40) }).reason).toBe(`not a UUID ("${x(40)}")`);
    expect(errorOf({ ...good(), run_id: x(41) }).reason).toBe(`not a UUID ("${x(40)}…")`);
    expect(errorOf({ ...good(), run_id: 'a"b' }).reason).toBe('not a UUID ("a\\"b")');
  });
});

describe('uuidV5', () => {
  it('says what is wrong with its arguments', () => {
    expect(() => uuidV5('x', 'nope')).toThrow(new TypeError('not a UUID: nope'));
    expect(() => uuidV5(42 as unknown as string)).toThrow(new TypeError('uuidV5: name must be a string'));
    expect(() => uuidV5('a\ud800')).toThrow(
      new TypeError('uuidV5: name has a lone surrogate (not valid Unicode)'),
    );
  });

  it('accepts the namespace in any letter case', () => {
    expect(uuidV5('x', EVENT_ID_NAMESPACE.toUpperCase())).toBe(uuidV5('x'));
  });
});

describe('the first row of a fresh process', () => {
  it('is checked like any other: an empty run_id is not taken for the last one seen', async () => {
    vi.resetModules();
    const fresh = await import('../src/event-id/index.js');
    const r = fresh.tryEventId({ ...good(), run_id: '' });
    expect(r.ok).toBe(false);
    expect(r.ok ? null : r.error.field).toBe('run_id');
  });
});

describe('uuidV5 namespace cache', () => {
  it('refuses an empty namespace even as the first call after the module loads', async () => {
    vi.resetModules();
    const fresh = await import('@backfill/shared/event-id');
    expect(() => fresh.uuidV5('x', '')).toThrow(TypeError);
  });
});
