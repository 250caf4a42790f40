// GET /runs/:runId/events with a real client (the `eventsource` package, a WHATWG EventSource) against
// the API listening on loopback and the real PostgreSQL: ids arrive; the connection is cut mid-stream
// (a TCP proxy resets it) while several writers commit out of order, and the client resumes with no
// loss and no duplicate; an open transaction holding ids holds the stream back until it commits; resume
// points (an event_id that appears twice, a row id, an unknown id); rows of other writers; heartbeats;
// a client that stops reading; cleanup on disconnect.
import { request } from 'node:http';
import { eventId } from '@backfill/shared/event-id';
import { EventSource } from 'eventsource';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { type FaultProxy, startFaultProxy } from '../../../test-support/tcp-proxy.js';
import { startApi, type TestApi } from './helpers.js';

let api: TestApi;
let url: string;
let proxy: FaultProxy;

beforeAll(async () => {
  url = await migratedDatabase('api_events');
  api = await startApi(url, {
    listen: true,
    settings: { pollIntervalMs: 100, sseRetryMs: 100, heartbeatMs: 300, streamBufferBytes: 64 * 1024 },
  });
  proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(api.base).port) });
});
afterAll(async () => {
  await proxy?.close();
  await api?.close();
});

const runId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

interface Written {
  id: string;
  event_id: string | null;
}

/** POSTs a batch through the API (real HTTP); the written rows. */
async function postBatch(run: string, events: unknown[]): Promise<Written[]> {
  const res = await fetch(`${api.base}/runs/${run}/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  if (res.status !== 201) throw new Error(`POST ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { events: Written[] }).events;
}

interface Received {
  sseId: string;
  row: { id: string; event_id: string | null; event_type: string; message: string | null };
}

/** An EventSource on a run, collecting what it receives (and how often it (re)opened). */
function listen(target: string, init?: { lastEventId?: string }) {
  const got: Received[] = [];
  let opens = 0;
  const es = new EventSource(target, {
    fetch: init?.lastEventId
      ? (input, i) => fetch(input, { ...i, headers: { ...i?.headers, 'last-event-id': init.lastEventId! } })
      : undefined,
  });
  es.addEventListener('open', () => opens++);
  es.addEventListener('message', (ev) => got.push({ sseId: ev.lastEventId, row: JSON.parse(ev.data) }));
  return { es, got, opens: () => opens };
}

interface Health {
  streams: number;
  streams_catching_up: number;
  stream_buffer_peak_bytes: number;
}

async function health(): Promise<Health> {
  return (await (await fetch(`${api.base}/healthz`)).json()) as Health;
}

describe('server-sent events', () => {
  it('ids arrive; cut mid-stream twice under concurrent writers, the client resumes with no loss and no duplicate', async () => {
    const run = runId(1);
    const client = listen(`http://127.0.0.1:${proxy.port}/runs/${run}/events`);
    await waitFor('the stream to open', async () => client.opens() === 1, 10_000, 20);

    // Three writers at once: their transactions commit out of id order.
    const written: Written[] = [];
    const writer = async (w: number) => {
      for (let b = 0; b < 20; b++) {
        const events = Array.from({ length: 25 }, (_, i) => ({
          event_type: 'step.log',
          message: `w${w} b${b} e${i}`,
          data: { w, b, i, nested: { timestamp: b } },
        }));
        written.push(...(await postBatch(run, events)));
      }
    };
    const writing = Promise.all([writer(1), writer(2), writer(3)]);
    await waitFor('some events', async () => client.got.length >= 300, 30_000, 10);
    proxy.resetAll(); // mid-stream: the client sees a reset and reconnects with Last-Event-ID
    await waitFor(
      'events after the first reconnect',
      async () => client.opens() >= 2 && client.got.length >= 900,
      30_000,
      10,
    );
    proxy.resetAll();
    await writing;
    await waitFor('every event', async () => client.got.length >= 1500, 30_000, 20);
    await waitFor('the second reconnect', async () => client.opens() >= 3, 30_000, 20);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate, if any, would arrive now
    client.es.close();

    const expected = [...written].sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)));
    expect(expected).toHaveLength(1500);
    // Exactly the rows written, each once, in id order, each with id: <event_id>.
    expect(client.got.map((g) => g.row.id)).toEqual(expected.map((w) => w.id));
    expect(client.got.map((g) => g.sseId)).toEqual(expected.map((w) => w.event_id));
    for (const g of client.got) expect(g.row.event_id).toBe(g.sseId);
  });

  it('a transaction that took an id holds the stream back; when it commits, its row comes first', async () => {
    const run = runId(2);
    const client = listen(`${api.base}/runs/${run}/events`);
    await waitFor('the stream to open', async () => client.opens() === 1, 10_000, 20);
    const [first] = await postBatch(run, [{ event_type: 'before' }]);
    await waitFor('the first event', async () => client.got.length === 1, 10_000, 10);

    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      const row = { run_id: run, event_type: 'slow', level: 'info', message: 'late commit', data: null };
      const held = await slow.query(
        'INSERT INTO run_logs (run_id, event_type, level, message, data, event_id) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id::text',
        [row.run_id, row.event_type, row.level, row.message, row.data, eventId(row)],
      );
      const after = await postBatch(run, [
        { event_type: 'after', message: '1' },
        { event_type: 'after', message: '2' },
      ]);
      expect(BigInt(after[0]!.id)).toBeGreaterThan(BigInt(held.rows[0].id));
      // The later rows are committed, but a stream that sent them now could never send the held one in
      // order: they wait (several poll intervals and NOTIFYs pass).
      await new Promise((r) => setTimeout(r, 600));
      expect(client.got.map((g) => g.row.event_type)).toEqual(['before']);
      await slow.query('COMMIT');
      await waitFor('the held row and the ones after it', async () => client.got.length === 4, 10_000, 10);
      expect(client.got.map((g) => g.row.id)).toEqual([
        first!.id,
        held.rows[0].id,
        after[0]!.id,
        after[1]!.id,
      ]);
    } finally {
      await slow.end();
      client.es.close();
    }
  });

  it('resumes after the first row that has the event_id (an id written twice), after a row id, or from the start', async () => {
    const run = runId(3);
    const same = { event_type: 'dup', message: 'same content, same id' };
    const rows = await postBatch(run, [
      { event_type: 'x1' },
      same,
      { event_type: 'x2' },
      same,
      { event_type: 'x3' },
    ]);
    expect(rows[1]!.event_id).toBe(rows[3]!.event_id);
    const types = (c: ReturnType<typeof listen>) => c.got.map((g) => g.row.event_type);

    // The client saw the second `dup` (or the first: it cannot say which): resume after the first.
    const byHeader = listen(`${api.base}/runs/${run}/events`, { lastEventId: rows[1]!.event_id! });
    const byQuery = listen(`${api.base}/runs/${run}/events?after=${rows[3]!.event_id}`);
    const byRowId = listen(`${api.base}/runs/${run}/events?after=${rows[2]!.id}`);
    const unknown = listen(`${api.base}/runs/${run}/events?after=00000000-0000-5000-8000-000000000000`);
    const fromStart = listen(`${api.base}/runs/${run}/events`);
    await waitFor(
      'every stream',
      async () =>
        byHeader.got.length >= 3 &&
        byQuery.got.length >= 3 &&
        byRowId.got.length >= 2 &&
        unknown.got.length >= 5 &&
        fromStart.got.length >= 5,
      10_000,
      10,
    );
    await new Promise((r) => setTimeout(r, 200));
    for (const c of [byHeader, byQuery, byRowId, unknown, fromStart]) c.es.close();
    expect(types(byHeader)).toEqual(['x2', 'dup', 'x3']);
    expect(types(byQuery)).toEqual(['x2', 'dup', 'x3']);
    expect(types(byRowId)).toEqual(['dup', 'x3']);
    expect(types(unknown)).toEqual(['x1', 'dup', 'x2', 'dup', 'x3']);
    expect(types(fromStart)).toEqual(['x1', 'dup', 'x2', 'dup', 'x3']);
  });

  it('rows another writer inserts (no NOTIFY) arrive by polling; a row without event_id has its row id as id', async () => {
    const run = runId(4);
    const client = listen(`${api.base}/runs/${run}/events`);
    await waitFor('the stream to open', async () => client.opens() === 1, 10_000, 20);
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      const row = { run_id: run, event_type: 'other.writer', level: 'info', message: null, data: { a: [1] } };
      const withId = await other.query(
        `INSERT INTO run_logs (run_id, event_type, level, message, data, event_id) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id::text`,
        [row.run_id, row.event_type, row.level, row.message, JSON.stringify(row.data), eventId(row)],
      );
      const legacy = await other.query(
        `INSERT INTO run_logs (run_id, event_type, message) VALUES ($1, 'legacy.tool', 'no id') RETURNING id::text`,
        [run],
      );
      await waitFor('both rows', async () => client.got.length === 2, 10_000, 10);
      expect(client.got[0]).toMatchObject({ sseId: eventId(row), row: { id: withId.rows[0].id } });
      expect(client.got[1]).toMatchObject({ sseId: legacy.rows[0].id, row: { event_id: null } });
    } finally {
      await other.end();
      client.es.close();
    }
  });

  it('heartbeats; a client that stops reading is served from the database at its pace and loses nothing; cleanup', async () => {
    const run = runId(5);
    let text = '';
    let res!: import('node:http').IncomingMessage;
    const req = request(`${api.base}/runs/${run}/events`, (r) => {
      res = r;
      r.setEncoding('utf8');
      r.on('data', (d: string) => {
        text += d;
      });
    });
    req.end();
    await waitFor('a heartbeat', async () => text.includes(': hb\n\n'), 10_000, 20);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(text.startsWith('retry: 100\n\n')).toBe(true);

    res.pause(); // stops reading: the kernel's buffers fill, then the server's
    const message = 'x'.repeat(1000);
    const written: Written[] = [];
    for (let b = 0; b < 40; b++) {
      written.push(
        ...(await postBatch(
          run,
          Array.from({ length: 500 }, (_, i) => ({ event_type: 'big', message, data: { b, i } })),
        )),
      );
    }
    await waitFor(
      'the stream to fall behind',
      async () => (await health()).streams_catching_up >= 1,
      30_000,
      50,
    );
    const peak = (await health()).stream_buffer_peak_bytes;
    // Bounded: the limit (64 KB) plus one frame, whatever the client does not take (20 MB were written).
    expect(peak).toBeGreaterThan(64 * 1024);
    expect(peak).toBeLessThan(64 * 1024 + 4096);

    res.resume();
    const ids = () => [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]);
    await waitFor('every row', async () => ids().length >= 20_000, 60_000, 50);
    expect(ids()).toEqual(written.map((w) => w.event_id));
    await waitFor(
      'the stream to be live again',
      async () => (await health()).streams_catching_up === 0,
      10_000,
      50,
    );

    req.destroy();
    await waitFor('no stream left', async () => (await health()).streams === 0, 10_000, 20);
  });

  it('a bad Last-Event-ID or run id is a 400 before any stream opens', async () => {
    const bad = await fetch(`${api.base}/runs/${runId(6)}/events`, {
      headers: { 'last-event-id': 'yesterday' },
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'last-event-id' });
    const empty = await fetch(`${api.base}/runs/${runId(6)}/events`, { headers: { 'last-event-id': '' } });
    expect(empty.status).toBe(200); // an empty Last-Event-ID is no resume point: from the start
    await empty.body?.cancel();
    const badRun = await fetch(`${api.base}/runs/nope/events`);
    expect(badRun.status).toBe(400);
    await waitFor('no stream left', async () => (await health()).streams === 0, 10_000, 20);
  });
});
