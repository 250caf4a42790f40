import { computeBatch, EventIdColumn, type SourceRow } from '@backfill/engine/backfill';
import { eventId } from '@backfill/shared/event-id';
import { describe, expect, it } from 'vitest';

const row = (id: number, data: string | null): SourceRow => ({
  id: String(id),
  xmin: '1000',
  run_id: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
  event_type: 'e',
  level: 'info',
  message: null,
  data,
});

describe('computeBatch', () => {
  it('computes ids from jsonb text, reports bad rows, and returns the last id read as the next cursor', async () => {
    const rows = [row(3, '{"b":1,"a":[1,2]}'), row(7, '{"x": 1e400}'), row(9, null), row(12, 'not json')];
    const b = await computeBatch(rows);
    expect(b.ids).toEqual(['3', '9']);
    expect(b.eventIds.at(0)).toBe(eventId({ ...row(3, null), data: { a: [1, 2], b: 1 } }));
    expect(b.eventIds.at(1)).toBe(eventId(row(9, null)));
    expect(b.bad.map((x) => x.id)).toEqual(['7', '12']);
    expect(b.bad[0]!.reason).toMatch(/^data\.x: /);
    expect(b.bad[1]!.reason).toMatch(/not valid JSON/);
    expect(b.lastId).toBe(12n); // the cursor moves past bad rows too
    expect(b.rowsRead).toBe(4);
  });

  it('yields to the event loop on big batches and keeps every row', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => row(i + 1, `{"i":${i}}`));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const b = await computeBatch(rows);
    clearInterval(timer);
    expect(b.ids.length).toBe(2000);
    expect(b.lastId).toBe(2000n);
    expect(ticks).toBeGreaterThan(0);
  });
});

describe('EventIdColumn', () => {
  const uuid = (i: number) => `00000000-0000-5000-8000-${String(i).padStart(12, '0')}`;

  it('packs ids into one array literal, grows past its capacity, and slices without copying', () => {
    const col = EventIdColumn.withCapacity(2);
    for (let i = 0; i < 5; i++) col.push(uuid(i));
    expect(col.length).toBe(5);
    expect(col.toArray()).toEqual([0, 1, 2, 3, 4].map(uuid));
    expect(col.toArrayLiteral()).toBe(`{${[0, 1, 2, 3, 4].map(uuid).join(',')}}`);
    const tail = col.slice(3);
    expect(tail.toArrayLiteral()).toBe(`{${uuid(3)},${uuid(4)}}`);
    expect(tail.at(0)).toBe(uuid(3));
    expect(col.slice(1, 3).toArray()).toEqual([uuid(1), uuid(2)]);
    expect(col.slice(2, 2).toArrayLiteral()).toBe('{}');
    expect(EventIdColumn.withCapacity(0).toArrayLiteral()).toBe('{}');
  });

  it('refuses what is not a UUID, out-of-range reads, and writes to a slice', () => {
    const col = EventIdColumn.withCapacity(1);
    expect(() => col.push('abc')).toThrow(TypeError);
    col.push(uuid(1));
    expect(() => col.at(1)).toThrow(RangeError);
    expect(() => col.slice(0, 1).push(uuid(2))).toThrow(/read-only/);
  });
});
