// The dashboard's HTTP control API with inject() (no port): reads from the status read model, actions
// through the control plane, errors mapped from its kinds with nothing changed, the security rules
// (token, session cookie, CSRF, cross-site posts, read-only without a token), the shared live feed and
// the fleet metrics parsed with a real Prometheus text-format parser.
import { type ControlContext, closeControl, openControl, startRun } from '@backfill/control';
import { createLogger } from '@backfill/engine/logger';
import { buildDashboard, type LiveFeed } from '@backfill/operator';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import type { FastifyInstance } from 'fastify';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { REDIS_URL, removeRedisKeys } from '../../../test-support/distributed.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-operator-${process.pid}`;
const TOKEN = 'correct-horse-battery-staple';
const logger = createLogger({ level: 'silent' });
let ctx: ControlContext;
let url: string;
let app: FastifyInstance & { feed: LiveFeed };
let readOnly: FastifyInstance;

beforeAll(async () => {
  url = await migratedDatabase('operator_api');
  await seedLegacyRows(url, 3000);
  ctx = await openControl({ databaseUrl: url, redisUrl: REDIS_URL, prefix: PREFIX, logger });
  await startRun(ctx, {
    name: 'r1',
    shardRows: 100,
    order: 'asc',
    method: 'keyset',
    analyze: false,
    settings: RUN_SETTINGS_DEFAULTS,
    commit: true,
  });
  app = await buildDashboard({ ctx, token: TOKEN, feedIntervalMs: 200, queueView: true });
  readOnly = await buildDashboard({ ctx, token: null, queueView: false });
});
afterAll(async () => {
  await app?.close();
  await readOnly?.close();
  await closeControl(ctx);
  await removeRedisKeys(PREFIX);
});

const bearer = { authorization: `Bearer ${TOKEN}` };
const json = { 'content-type': 'application/json' };
const runStatus = async () =>
  withClient(
    url,
    async (c) => (await c.query(`SELECT status FROM backfill_runs WHERE name = 'r1'`)).rows[0].status,
  );

describe('reads', () => {
  it('lists runs and shows one from the status read model', async () => {
    const list = await app.inject({ url: '/api/runs' });
    expect(list.statusCode).toBe(200);
    expect(list.json().runs.map((r: { run: { name: string } }) => r.run.name)).toEqual(['r1']);
    const one = await app.inject({ url: '/api/runs/r1' });
    expect(one.json()).toMatchObject({
      run: { name: 'r1', status: 'running' },
      progress: { shards: { queued: 30 } },
    });
  });

  it('pages shards, filters by state, shows one shard with its history, and the shard map', async () => {
    const page = await app.inject({ url: '/api/runs/r1/shards?offset=10&limit=5' });
    expect(page.json()).toMatchObject({ total: 30, offset: 10 });
    expect(page.json().shards.map((s: { shardNo: number }) => s.shardNo)).toEqual([10, 11, 12, 13, 14]);
    const queued = await app.inject({ url: '/api/runs/r1/shards?status=queued&limit=1' });
    expect(queued.json().total).toBe(30);
    const none = await app.inject({ url: '/api/runs/r1/shards?status=failed' });
    expect(none.json()).toMatchObject({ total: 0, shards: [] });
    const shard = await app.inject({ url: '/api/runs/r1/shards/3' });
    expect(shard.json()).toMatchObject({
      shardNo: 3,
      status: 'queued',
      fromId: '301',
      toId: '400',
      attempts: 0,
    });
    expect(Array.isArray(shard.json().events)).toBe(true);
    const map = await app.inject({ url: '/api/runs/r1/map' });
    expect(map.json().shards).toHaveLength(30);
    expect(map.json().shards[0]).toEqual([0, 'queued', 0]);
  });

  it('maps errors: 404 for an unknown run, shard or route, 400 naming the field', async () => {
    expect((await app.inject({ url: '/api/runs/nope' })).statusCode).toBe(404);
    const shard = await app.inject({ url: '/api/runs/r1/shards/999' });
    expect(shard.statusCode).toBe(404);
    expect(shard.json().error.kind).toBe('not_found');
    expect((await app.inject({ url: '/api/nothing-here' })).statusCode).toBe(404);
    const bad = await app.inject({ url: '/api/runs/r1/shards?limit=0' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ kind: 'usage', field: 'limit' });
  });
});

describe('actions and security', () => {
  const ACTIONS = [
    ['/api/runs/r1/pause', {}],
    ['/api/runs/r1/resume', {}],
    ['/api/runs/r1/cancel', {}],
    ['/api/runs/r1/finalize', {}],
    ['/api/runs/r1/retry', { failed: true }],
    ['/api/runs/r1/settings', { maxRowsPerSecond: 5 }],
    ['/api/pause-all', {}],
  ] as const;

  it('every action without a token, or with a wrong one, is 401 and changes nothing', async () => {
    for (const [path, body] of ACTIONS) {
      const none = await app.inject({ method: 'POST', url: path, headers: json, payload: body });
      expect(none.statusCode, path).toBe(401);
      const wrong = await app.inject({
        method: 'POST',
        url: path,
        headers: { ...json, authorization: 'Bearer nope' },
        payload: body,
      });
      expect(wrong.statusCode, path).toBe(401);
    }
    expect(await runStatus()).toBe('running');
    const settings = await withClient(url, (c) =>
      c.query(`SELECT settings->>'maxRowsPerSecond' AS m FROM backfill_runs`),
    );
    expect(settings.rows[0].m).toBe('0');
  });

  it('with the bearer token: pause, resume, change a setting (recorded), and 400/409 change nothing', async () => {
    const pause = await app.inject({ method: 'POST', url: '/api/runs/r1/pause', headers: bearer });
    expect(pause.json()).toEqual({ name: 'r1', status: 'paused' });
    const finalize = await app.inject({ method: 'POST', url: '/api/runs/r1/finalize', headers: bearer });
    expect(finalize.statusCode).toBe(409);
    expect(
      (await app.inject({ method: 'POST', url: '/api/runs/r1/resume', headers: bearer })).json().status,
    ).toBe('running');
    const set = await app.inject({
      method: 'POST',
      url: '/api/runs/r1/settings',
      headers: { ...bearer, ...json },
      payload: { maxRowsPerSecond: 4000 },
    });
    expect(set.json().changes).toEqual([{ key: 'maxRowsPerSecond', from: 0, to: 4000 }]);
    const bad = await app.inject({
      method: 'POST',
      url: '/api/runs/r1/settings',
      headers: { ...bearer, ...json },
      payload: { batchSize: 0 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ kind: 'usage', field: 'batchSize' });
    const unknown = await app.inject({
      method: 'POST',
      url: '/api/runs/r1/settings',
      headers: { ...bearer, ...json },
      payload: { colour: 'red' },
    });
    expect(unknown.json().error).toMatchObject({ kind: 'usage', field: 'colour' });
    const retry = await app.inject({
      method: 'POST',
      url: '/api/runs/r1/retry',
      headers: { ...bearer, ...json },
      payload: { shardNo: 999 },
    });
    expect(retry.statusCode).toBe(404);
    const status = await app.inject({ url: '/api/runs/r1' });
    expect(status.json().run.settings.maxRowsPerSecond).toBe(4000);
    expect(status.json().progress.events[0]).toMatchObject({
      kind: 'settings',
      message: 'maxRowsPerSecond: 0 → 4000',
    });
  });

  it('login sets an HttpOnly SameSite cookie; a cookie action needs its CSRF token and this origin', async () => {
    expect(
      (await app.inject({ method: 'POST', url: '/api/login', headers: json, payload: { token: 'nope' } }))
        .statusCode,
    ).toBe(401);
    const login = await app.inject({
      method: 'POST',
      url: '/api/login',
      headers: json,
      payload: { token: TOKEN },
    });
    expect(login.statusCode).toBe(200);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/bf_session=[^;]+;.*HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = setCookie.split(';')[0]!;
    const { csrf } = login.json();
    const session = await app.inject({ url: '/api/session', headers: { cookie } });
    expect(session.json()).toMatchObject({ authenticated: true, readOnly: false, csrf });

    const noCsrf = await app.inject({ method: 'POST', url: '/api/runs/r1/pause', headers: { cookie } });
    expect(noCsrf.statusCode).toBe(403);
    // A form on another site: form body, its own origin, the browser's cookie (were SameSite to fail).
    const crossSite = await app.inject({
      method: 'POST',
      url: '/api/runs/r1/pause',
      headers: { cookie, origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'x=1',
    });
    expect([403, 415]).toContain(crossSite.statusCode);
    const crossOrigin = await app.inject({
      method: 'POST',
      url: '/api/runs/r1/pause',
      headers: { cookie, origin: 'http://evil.example', 'x-csrf-token': csrf, host: 'localhost:8090' },
    });
    expect(crossOrigin.statusCode).toBe(403);
    expect(await runStatus()).toBe('running');
    const ok = await app.inject({
      method: 'POST',
      url: '/api/runs/r1/pause',
      headers: { cookie, 'x-csrf-token': csrf, origin: 'http://localhost:8090', host: 'localhost:8090' },
    });
    expect(ok.statusCode).toBe(200);
    expect(await runStatus()).toBe('paused');
    await app.inject({ method: 'POST', url: '/api/runs/r1/resume', headers: bearer });
    await app.inject({ method: 'POST', url: '/api/logout', headers: { cookie } });
    expect((await app.inject({ url: '/api/session', headers: { cookie } })).json().authenticated).toBe(false);
  });

  it('without DASHBOARD_TOKEN the dashboard is read-only and says so', async () => {
    expect((await readOnly.inject({ url: '/api/session' })).json()).toMatchObject({
      readOnly: true,
      authenticated: false,
    });
    for (const [path, body] of ACTIONS) {
      const r = await readOnly.inject({
        method: 'POST',
        url: path,
        headers: { ...json, ...bearer },
        payload: body,
      });
      expect(r.statusCode, path).toBe(403);
      expect(r.json().error.kind).toBe('read_only');
    }
    expect(await runStatus()).toBe('running');
  });

  it('no GET changes anything', async () => {
    const before = await withClient(url, (c) =>
      c.query('SELECT status, settings, updated_at FROM backfill_runs'),
    );
    for (const path of [
      '/api/runs',
      '/api/runs/r1',
      '/api/runs/r1/shards',
      '/api/runs/r1/map',
      '/api/workers',
      '/api/runs/r1/pause',
      '/metrics',
    ]) {
      await app.inject({ url: path, headers: bearer });
    }
    const after = await withClient(url, (c) =>
      c.query('SELECT status, settings, updated_at FROM backfill_runs'),
    );
    expect(after.rows).toEqual(before.rows);
  });
});

describe('live feed and metrics', () => {
  it('one poller for every page: the ledger is read once per tick however many clients watch', async () => {
    const watch = (n: number) => Array.from({ length: n }, () => app.feed.subscribe(() => {}));
    const one = watch(1);
    let t0 = app.feed.ticks;
    await new Promise((r) => setTimeout(r, 1100));
    const alone = app.feed.ticks - t0;
    const many = watch(49);
    t0 = app.feed.ticks;
    await new Promise((r) => setTimeout(r, 1100));
    const fifty = app.feed.ticks - t0;
    for (const stop of [...one, ...many]) stop();
    expect(alone).toBeGreaterThan(0);
    expect(fifty).toBeLessThanOrEqual(alone + 1);
  });

  it('serves server-sent events with the snapshot', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${address}/api/stream`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('event: snapshot')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toMatch(/data: \{"at":/);
  });

  it('exposes fleet gauges from the ledger, parsed by a Prometheus text-format parser', async () => {
    const res = await app.inject({ url: '/metrics' });
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    const families = parsePrometheusTextFormat(res.body) as Array<{
      name: string;
      metrics: Array<{ labels?: Record<string, string>; value: string }>;
    }>;
    const byName = new Map(families.map((f) => [f.name, f]));
    const queued = byName
      .get('backfill_run_shards')!
      .metrics.find((m) => m.labels?.status === 'queued' && m.labels.run === 'r1');
    expect(Number(queued?.value)).toBe(30);
    expect(byName.get('backfill_runs')!.metrics.find((m) => m.labels?.status === 'running')?.value).toBe('1');
    expect(byName.has('process_cpu_seconds_total')).toBe(true);
  });

  it('mounts BullMQ jobs read-only at /queues', async () => {
    const page = await app.inject({ url: '/queues' });
    expect(page.statusCode).toBe(200);
    const api = await app.inject({ url: '/queues/api/queues' });
    expect(api.statusCode).toBe(200);
    const queues = api.json().queues as Array<{ name: string; readOnlyMode: boolean }>;
    expect(queues).toHaveLength(1);
    expect(queues[0]!.readOnlyMode).toBe(true);
  });
});
