// The batch UPDATE's parameters in PostgreSQL's binary array format, read back by PostgreSQL itself.
import { EventIdColumn, int8ArrayParam, xidArrayParam } from '@backfill/engine/backfill';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test-support/db.js';

describe('binary array parameters', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: await freshDatabase('engine_binary_array') });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
  });

  const asText = async (param: Buffer, type: string) =>
    (await client.query(`SELECT $1::${type}::text AS t, cardinality($1::${type}) AS n`, [param])).rows[0] as {
      t: string;
      n: number;
    };

  it('bigint[]: every int8, small and large, negative and beyond 2^53', async () => {
    const ids = [
      '1',
      '0',
      '-1',
      '4294967295',
      '4294967296',
      '-4294967297',
      '9007199254740993',
      '9223372036854775807',
      '-9223372036854775808',
      '123456789',
    ];
    expect(await asText(int8ArrayParam(ids), 'bigint[]')).toEqual({ t: `{${ids.join(',')}}`, n: ids.length });
    expect(await asText(int8ArrayParam([]), 'bigint[]')).toEqual({ t: '{}', n: 0 });
    expect(() => int8ArrayParam(['12a'])).toThrow(TypeError);
    expect(() => int8ArrayParam([' 1'])).toThrow(TypeError);
    expect(() => int8ArrayParam(['9223372036854775808'])).toThrow(RangeError);
  });

  it('xid[]: the whole 32-bit range', async () => {
    const xmins = ['0', '3', '2147483648', '4294967295'];
    expect(await asText(xidArrayParam(xmins), 'xid[]')).toEqual({ t: `{${xmins.join(',')}}`, n: 4 });
    expect(await asText(xidArrayParam([]), 'xid[]')).toEqual({ t: '{}', n: 0 });
    expect(() => xidArrayParam(['4294967296'])).toThrow(TypeError);
    expect(() => xidArrayParam(['-1'])).toThrow(TypeError);
  });

  it('text[] of event ids: the whole column and a slice of it', async () => {
    const uuid = (i: number) => `00000000-0000-5000-8000-${String(i).padStart(12, '0')}`;
    const col = EventIdColumn.withCapacity(2);
    for (let i = 0; i < 5; i++) col.push(uuid(i));
    const whole = await client.query('SELECT $1::text[] AS a', [col.toBinaryArray()]);
    expect(whole.rows[0].a).toEqual([0, 1, 2, 3, 4].map(uuid));
    const part = await client.query('SELECT $1::text[] AS a', [col.slice(3).toBinaryArray()]);
    expect(part.rows[0].a).toEqual([uuid(3), uuid(4)]);
    const none = await client.query('SELECT $1::text[] AS a', [col.slice(2, 2).toBinaryArray()]);
    expect(none.rows[0].a).toEqual([]);
  });
});
