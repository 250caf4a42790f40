// Before and after the migration, with no restart: the API starts on a run_logs made by another tool
// (no event_id column), writes and serves rows without ids and never fails; `backfill migrate` runs
// while it takes writes, and within a bounded wait its next writes carry ids (found by its periodic
// look); the backfill then fills the rest and verify agrees with every id. `migrate --down` while it
// runs: the very next write succeeds without the column (the insert's column error makes it look at
// once), and `migrate` again brings the ids back.
import { LEGACY_RUN_LOGS_DDL } from '@backfill/demo-data';
import { eventId } from '@backfill/shared/event-id';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { freshDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';
import { post, startApi, type TestApi } from './helpers.js';

const RUN = '1b1b1b1b-0000-4000-8000-000000000001';
let url: string;
let api: TestApi;

beforeAll(async () => {
  url = await freshDatabase('api_before_migration');
  await withClient(url, (c) => c.query(LEGACY_RUN_LOGS_DDL));
  await seedLegacyRows(url, 2000);
  api = await startApi(url, { listen: true, settings: { schemaRecheckMs: 300, pollIntervalMs: 100 } });
});
afterAll(() => api?.close());

const health = async () => (await api.app.inject({ method: 'GET', url: '/healthz' })).json();

interface Attempt {
  status: number;
  id?: string;
  event_id?: string | null;
  message: string;
}

/** POSTs one event every few milliseconds until stopped; every answer is kept. */
function startWriter() {
  const attempts: Attempt[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const message = `live ${i}`;
      const res = await post(api, { event_type: 'live', message, data: { i } }, RUN);
      attempts.push({ ...res.json(), status: res.statusCode, message });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    attempts,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

const expectedId = (message: string, i: number) =>
  eventId({ run_id: RUN, event_type: 'live', level: 'info', message, data: { i } });

describe('before and after `backfill migrate`, no restart', { timeout: 180_000 }, () => {
  it('writes and serves rows without event_id, then with, across the migration', async () => {
    expect(await health()).toMatchObject({ event_id_column: 'absent', writing_event_ids: false });
    const first = await post(api, { event_type: 'before', message: 'no column yet' }, RUN);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json().event_id).toBeNull();
    const page = await api.app.inject({ method: 'GET', url: `/runs/${RUN}/logs` });
    expect(page.json().rows).toEqual([expect.objectContaining({ id: first.json().id, event_id: null })]);

    // A stream opened before the migration: numeric ids first, event ids after.
    const got: Array<{ sseId: string; id: string }> = [];
    const es = new EventSource(`${api.base}/runs/${RUN}/events`);
    es.addEventListener('message', (ev) => got.push({ sseId: ev.lastEventId, id: JSON.parse(ev.data).id }));

    const writer = startWriter();
    try {
      await waitFor('some writes before the migration', async () => writer.attempts.length >= 20, 30_000, 10);
      const migrate = await runCli(['migrate'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
      expect(migrate.code, migrate.stderr).toBe(0);
      // The API's next look (every 300 ms here, 5 s by default) finds the column: writes carry ids.
      await waitFor(
        'a write with an event_id',
        async () => writer.attempts.some((a) => typeof a.event_id === 'string'),
        10_000,
        20,
      );
      const switched = writer.attempts.length;
      await waitFor('more writes after', async () => writer.attempts.length >= switched + 20, 30_000, 10);
    } finally {
      await writer.stop();
    }
    const { attempts } = writer;
    expect(attempts.filter((a) => a.status !== 201)).toEqual([]); // never failed
    const firstWithId = attempts.findIndex((a) => typeof a.event_id === 'string');
    // Without ids up to the switch, with them from then on, each the id of what was written.
    attempts.forEach((a, i) => {
      if (i < firstWithId) expect(a.event_id).toBeNull();
      else expect(a.event_id).toBe(expectedId(a.message, i));
    });
    expect(await health()).toMatchObject({ event_id_column: 'present', writing_event_ids: true });

    // In the table: NULL for the rows written before, the API's ids after.
    const { rows } = await api.pool.query(
      'SELECT id::text, event_id FROM run_logs WHERE run_id = $1 ORDER BY id',
      [RUN],
    );
    const byId = new Map(rows.map((r) => [r.id as string, r.event_id as string | null]));
    for (const a of attempts) expect(byId.get(a.id!)).toBe(a.event_id);

    // The stream got every row: a row id as id before the switch, the event_id after.
    await waitFor('the stream to have every row', async () => got.length >= rows.length, 10_000, 20);
    es.close();
    expect(got.map((g) => g.id)).toEqual(rows.map((r) => r.id));
    expect(got.map((g) => g.sseId)).toEqual(rows.map((r) => (r.event_id ?? r.id) as string));

    // The backfill fills the rest (the legacy rows and the API's early ones); verify agrees with all.
    const run = await runCli(['run', '--commit', '--json'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).rowsUpdated).toBe(2000 + 1 + firstWithId);
    const verify = await runCli(['verify', '--full', '--expect-complete', '--json'], { DATABASE_URL: url });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout).mismatches).toBe(0);
    // The backfill's ids for the API's early rows are the ids the API writes for the same events.
    const early = await api.pool.query(
      'SELECT message, data, event_id FROM run_logs WHERE run_id = $1 AND event_type = $2 ORDER BY id',
      [RUN, 'live'],
    );
    for (const r of early.rows) expect(r.event_id).toBe(expectedId(r.message, (r.data as { i: number }).i));
  });

  it('`migrate --down` under it: the next write succeeds without the column; `migrate` brings ids back', async () => {
    // A second API whose periodic look never comes within the test: only its insert can find the column
    // gone (the first one's 300 ms look may win the race on a loaded machine).
    const noLook = await startApi(url, { settings: { schemaRecheckMs: 3_600_000 } });
    try {
      const down = await runCli(['migrate', '--down', '--yes'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
      expect(down.code, down.stderr).toBe(0);
      // The insert finds the column gone, looks at once, and writes without it.
      const res = await post(noLook, { event_type: 'after.down' }, RUN);
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().event_id).toBeNull();
      expect(
        noLook.lines.some(
          (l) => l.reason === 'insert missed the event_id column' && l.eventIdColumn === false,
        ),
      ).toBe(true);
    } finally {
      await noLook.close();
    }
    const page = await api.app.inject({ method: 'GET', url: `/runs/${RUN}/logs?limit=1000` });
    expect(page.statusCode).toBe(200);
    expect(page.json().rows.every((r: { event_id: unknown }) => r.event_id === null)).toBe(true);

    const up = await runCli(['migrate'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
    expect(up.code, up.stderr).toBe(0);
    await waitFor('writes with ids again', async () => (await health()).writing_event_ids, 10_000, 20);
    const again = await post(api, { event_type: 'after.up' }, RUN);
    expect(again.json().event_id).toBe(
      eventId({ run_id: RUN, event_type: 'after.up', level: 'info', message: null, data: null }),
    );
  });
});
