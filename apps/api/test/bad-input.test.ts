// Bad input through the real app (app.inject, the real PostgreSQL): 400 with the field named and nothing
// written (not even the good events of the same batch), 404 for an unknown route, 413 for a body over
// the limit, 415 for a body that is not JSON; and the values the API accepts but normalises.
import { eventId } from '@backfill/shared/event-id';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../../test-support/db.js';
import { countRows, post, RUN, startApi, type TestApi } from './helpers.js';

let api: TestApi;

beforeAll(async () => {
  api = await startApi(await migratedDatabase('api_bad_input'), {
    settings: { batchLimit: 5, bodyLimit: 4096 },
  });
});
afterAll(() => api?.close());

const good = { event_type: 'step.finished', level: 'info', message: 'ok', data: { a: 1 } };

/** POSTs, expects a 400 naming `field`, and checks that no row was written. */
async function refused(body: unknown, field: string, reason?: RegExp) {
  const before = await countRows(api.pool);
  const res = await post(api, body);
  expect(res.statusCode, res.body).toBe(400);
  const json = res.json();
  expect(json).toMatchObject({ error: 'bad_request', field });
  expect(json.message.startsWith(`${field}: `)).toBe(true);
  if (reason) expect(json.message).toMatch(reason);
  expect(await countRows(api.pool)).toBe(before);
  return json;
}

describe('400: the field is named and nothing is written', () => {
  it('missing, mistyped and unknown fields, in one event and in a batch', async () => {
    await refused({ level: 'info' }, 'event_type', /required/);
    await refused({ ...good, event_type: '' }, 'event_type', /non-empty/);
    await refused({ ...good, level: 5 }, 'level', /expected string, received number/);
    await refused({ ...good, message: 7 }, 'message');
    await refused({ ...good, eventType: 'x' }, 'eventType', /unknown field/);
    await refused({ ...good, event_id: '00000000-0000-5000-8000-000000000000' }, 'event_id', /unknown field/);
    await refused({ ...good, timestamp: 'yesterday' }, 'timestamp', /ISO 8601/);
    // The good events of a bad batch are not written either: one statement, after every check.
    await refused({ events: [good, good, { ...good, level: null }] }, 'events[2].level');
    await refused(
      `{"events":[${JSON.stringify(good)},{"event_type":"a","data":{"n":1e400}}]}`,
      'events[1].data.n',
    );
    await refused({ events: [] }, 'events', /at least one/);
    await refused({ events: [good, good, good, good, good, good] }, 'events', /at most 5 events/);
    await refused({ events: [good], extra: 1 }, 'extra', /unknown field/);
  });

  it('a bad run id, a bad body', async () => {
    const res = await post(api, good, 'not-a-uuid');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'runId' });
    await refused('{"event_type": "a",', 'body', /not valid JSON/);
    await refused('', 'body', /not valid JSON/);
    await refused('[1, 2]', 'body');
    const latin1 = await api.app.inject({
      method: 'POST',
      url: `/runs/${RUN}/logs`,
      headers: { 'content-type': 'application/json' },
      payload: Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]), // {"é":1} in Latin-1
    });
    expect(latin1.statusCode).toBe(400);
    expect(latin1.json()).toMatchObject({
      field: 'body',
      message: 'body: the request body is not valid UTF-8',
    });
  });

  it('data PostgreSQL would not store as sent, or event-id refuses, with its path', async () => {
    await refused('{"event_type":"a","data":{"n":1e400}}', 'data.n', /beyond the range/);
    await refused('{"event_type":"a","data":[0,-1e999]}', 'data[1]', /beyond the range/);
    await refused('{"event_type":"a","data":{"n":1e-400}}', 'data.n', /would be 0/);
    await refused('{"event_type":"a","data":{"id":12345678901234567890}}', 'data.id', /send it as a string/);
    await refused('{"event_type":"a","data":{"x":{"y z":[9007199254740993]}}}', 'data.x["y z"][0]', /2\^53/);
    await refused('{"event_type":"a","data":{"s":"a\\u0000b"}}', 'data.s', /U\+0000/);
    await refused('{"event_type":"a","data":{"k\\u0000":1}}', 'data["k\\u0000"]', /object key has U\+0000/);
    await refused('{"event_type":"a","message":"\\u0000"}', 'message', /U\+0000/);
    await refused('{"event_type":"a","data":"\\ud800"}', 'data', /lone surrogate/);
    await refused('{"event_type":"\\udc00x"}', 'event_type', /lone surrogate/);
    const deep = `{"event_type":"a","data":${'['.repeat(1001)}${']'.repeat(1001)}}`;
    await refused(deep, 'data' + '[0]'.repeat(1000), /nested deeper than 1000/);
  });
});

describe('accepted, as the backfill will read it back', () => {
  it('normalises what jsonb and JSON.parse normalise, and the id is that of the stored value', async () => {
    const cases: Array<[string, unknown]> = [
      ['{"a":1.0,"b":1.50,"c":-0,"d":1E2,"e":0.10000000000000001}', { a: 1, b: 1.5, c: 0, d: 100, e: 0.1 }],
      [
        '{"n":9007199254740992,"m":100000000000000000000,"big":1000000000000000000000}',
        {
          n: 9007199254740992,
          m: 1e20,
          big: 1e21,
        },
      ],
      [
        '{"tiny":5e-324,"max":1.7976931348623157e308,"f":1.2345678901234567890e3}',
        {
          tiny: 5e-324,
          max: 1.7976931348623157e308,
          f: Number('1.2345678901234567890e3'),
        },
      ],
      ['{"a":1,"a":2}', { a: 2 }], // duplicate keys: the last wins, in JSON.parse and in jsonb alike
      [
        '{"z":{"b":1,"a":2},"é":"\\ud83d\\ude00","":"\\u2028\\u0001","__proto__":{"x":1}}',
        JSON.parse('{"z":{"b":1,"a":2},"é":"😀","":"\\u2028\\u0001","__proto__":{"x":1}}'),
      ],
    ];
    for (const [text, value] of cases) {
      const res = await post(api, `{"event_type":"edge","data":${text}}`);
      expect(res.statusCode, res.body).toBe(201);
      const { id, event_id } = res.json();
      const expected = eventId({
        run_id: RUN,
        event_type: 'edge',
        level: 'info',
        message: null,
        data: value,
      });
      expect(event_id, text).toBe(expected);
      // What the backfill computes from the stored row (data::text, JSON.parse):
      const { rows } = await api.pool.query(
        'SELECT run_id::text AS run_id, event_type, level, message, data::text AS data FROM run_logs WHERE id = $1',
        [id],
      );
      const stored = { ...rows[0], data: JSON.parse(rows[0].data) };
      expect(eventId(stored), text).toBe(expected);
    }
  });

  it('defaults: level info, message and data null; run ids in any letter case are the same run', async () => {
    const res = await post(api, { event_type: 'bare' }, RUN.toUpperCase());
    expect(res.statusCode).toBe(201);
    expect(res.json().event_id).toBe(
      eventId({ run_id: RUN, event_type: 'bare', level: 'info', message: null, data: null }),
    );
    const { rows } = await api.pool.query(
      'SELECT run_id::text, level, message, data FROM run_logs WHERE id = $1',
      [res.json().id],
    );
    expect(rows[0]).toEqual({ run_id: RUN, level: 'info', message: null, data: null });
  });

  it('1000 nested levels are accepted (the event-id limit), and the timestamp is stored as given', async () => {
    const deep = `{"event_type":"deep","timestamp":"2024-05-01T12:00:00.123456+02:00","data":${'['.repeat(1000)}${']'.repeat(1000)}}`;
    const res = await post(api, deep);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().timestamp).toBe('2024-05-01T10:00:00.123456+00:00');
  });
});

describe('404, 413, 415', () => {
  it('an unknown route is a 404 in the error format', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/runs' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: 'no route GET /runs' });
    const del = await api.app.inject({ method: 'DELETE', url: `/runs/${RUN}/logs` });
    expect(del.statusCode).toBe(404);
  });

  it('a body over the limit is a 413 and nothing is written', async () => {
    const before = await countRows(api.pool);
    const res = await post(api, { event_type: 'big', message: 'x'.repeat(5000) });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large' });
    expect(res.json().message).toMatch(/4096 bytes/);
    expect(await countRows(api.pool)).toBe(before);
  });

  it('a body that is not JSON is a 415', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: `/runs/${RUN}/logs`,
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ error: 'unsupported_media_type' });
  });

  it('GET with a bad limit or cursor is a 400 naming it', async () => {
    for (const [q, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['after=xyz', 'after'],
      ['after=99999999999999999999', 'after'],
      ['bogus=1', 'bogus'],
    ]) {
      const res = await api.app.inject({ method: 'GET', url: `/runs/${RUN}/logs?${q}` });
      expect(res.statusCode, q).toBe(400);
      expect(res.json().field, q).toBe(field);
    }
    const unknown = await api.app.inject({
      method: 'GET',
      url: `/runs/${RUN}/logs?after=00000000-0000-5000-8000-000000000000`,
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toMatch(/no row of run/);
  });
});
