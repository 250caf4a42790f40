// prepareRunLogInsert / withEventId: the helper for applications that insert run_logs rows themselves.
// Pure (no database): the id is event-id v1's, the data to bind is JSON.stringify of the value hashed,
// and what PostgreSQL cannot store is refused with the field named. (The round trip through PostgreSQL
// is in event-id-for-insert-pg.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  EventIdError,
  eventId,
  prepareRunLogInsert,
  withEventId,
} from '../src/event-id/index.js';

const row = () => ({
  run_id: '6F1C2B9E-3A4D-4E5F-8A7B-9C0D1E2F3A4B',
  event_type: 'step.finished',
  level: 'info',
  message: 'done' as string | null,
  data: { b: [1, 2.5, { c: null }], a: 'é😀' } as unknown,
});

function refusal(r: unknown): EventIdError {
  try {
    prepareRunLogInsert(r as never);
  } catch (err) {
    if (err instanceof EventIdError) return err;
    throw err;
  }
  throw new Error('expected an EventIdError');
}

describe('withEventId', () => {
  it('adds the row’s event-id v1 and keeps everything else', () => {
    const r = { ...row(), id: 7, timestamp: '2024-01-01T00:00:00Z' };
    const out = withEventId(r as never);
    expect(out).toEqual({ ...r, event_id: eventId(r) });
    expect(out).not.toBe(r);
    expect(() => withEventId({ ...row(), level: 3 } as never)).toThrow('level: not a string (number)');
  });
});

describe('prepareRunLogInsert', () => {
  it('binds the canonical JSON of the value hashed, the run id lowercased (as PostgreSQL prints a uuid)', () => {
    const r = row();
    const p = prepareRunLogInsert(r as never);
    expect(p).toEqual({
      run_id: r.run_id.toLowerCase(),
      event_type: r.event_type,
      level: r.level,
      message: r.message,
      data: canonicalJson(r.data),
      event_id: eventId(r),
    });
    // Fields that look like the text around data do not confuse where it ends.
    const tricky = {
      ...r,
      message: '","event_type":"x',
      event_type: ',"event_type":',
      data: { event_type: { ',"event_type":': [',"event_type":'] } },
    };
    expect(prepareRunLogInsert(tricky as never).data).toBe(canonicalJson(tricky.data));
    expect(prepareRunLogInsert({ ...r, data: 'just text' } as never).data).toBe('"just text"');
    expect(prepareRunLogInsert({ ...r, data: null, message: null } as never)).toMatchObject({
      data: null,
      message: null,
    });
  });

  it('on random rows: the data bound is canonicalJson of the data, the id eventId of the row', () => {
    // Any JSON value, with keys and texts from all of Unicode (pairs of surrogates count two UTF-16
    // units: data's JSON is cut out of the canonical text by its length), and texts that repeat (the
    // JSON literals of event_type and level are kept from row to row).
    const text = fc.oneof(fc.constantFrom('info', 'warn', 'step.finished'), fc.string({ unit: 'binary' }));
    const noNul = (s: string) => !s.includes('\u0000');
    fc.assert(
      fc.property(
        fc.record({
          run_id: fc.uuid(),
          event_type: text.filter(noNul),
          level: text.filter(noNul),
          message: fc.option(text.filter(noNul), { nil: null }),
          data: fc.option(fc.jsonValue({ stringUnit: 'binary' }), { nil: null }),
        }),
        (r) => {
          fc.pre(r.data === null || !canonicalJson(r.data).includes('\\u0000'));
          const p = prepareRunLogInsert(r as never);
          expect(p.data).toBe(r.data === null ? null : canonicalJson(r.data));
          expect(p.event_id).toBe(eventId(r));
          expect(p.run_id).toBe(r.run_id.toLowerCase());
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses U+0000 wherever it is (PostgreSQL text and jsonb cannot hold it), naming the field', () => {
    expect(refusal({ ...row(), event_type: 'a\u0000' }).field).toBe('event_type');
    expect(refusal({ ...row(), level: '\u0000' }).field).toBe('level');
    expect(refusal({ ...row(), message: 'm\u0000' }).field).toBe('message');
    expect(refusal({ ...row(), data: 'x\u0000' }).field).toBe('data');
    expect(refusal({ ...row(), data: { a: [1, { 'odd key': 'x\u0000' }] } }).field).toBe(
      'data.a[1]["odd key"]',
    );
    const key = refusal({ ...row(), data: { ok: 1, ['k\u0000']: 1 } });
    expect(key.field).toBe('data["k\\u0000"]');
    expect(key.reason).toMatch(/U\+0000 cannot be stored by PostgreSQL/);
  });

  it('a backslash followed by the text u0000 is not a U+0000', () => {
    const p = prepareRunLogInsert({ ...row(), data: { s: '\\u0000', t: '\\\\u0000' } } as never);
    expect(JSON.parse(p.data!)).toEqual({ s: '\\u0000', t: '\\\\u0000' });
    expect(refusal({ ...row(), data: { s: '\\\u0000' } }).field).toBe('data.s');
  });

  it('refuses what event-id refuses, with its error', () => {
    expect(refusal({ ...row(), data: { n: Number.POSITIVE_INFINITY } }).message).toBe(
      'data.n: not a finite number (Infinity)',
    );
    expect(refusal({ ...row(), run_id: 'nope' }).field).toBe('run_id');
    expect(refusal({ ...row(), data: '\ud800' }).field).toBe('data');
  });
});
