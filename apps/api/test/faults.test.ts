// PostgreSQL misbehaving under the API: a connection reset mid-request is a 503 (not a 500) whose batch
// was written whole or not at all (the server may have committed it after the client was gone: a retry
// writes the same events again, with the same event_ids, which is what clients dedupe by), and the next
// request works on fresh connections; a statement held up by a lock past statement_timeout is a 503
// busy, and nothing of the request is written.
import { createPool } from '@backfill/engine/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../../test-support/db.js';
import { captureLogger } from '../../../test-support/logger.js';
import { type FaultProxy, startFaultProxy, viaProxy } from '../../../test-support/tcp-proxy.js';
import { type ApiApp, buildApp } from '../src/app.js';
import { countRows, post } from './helpers.js';

let url: string;
let proxy: FaultProxy;
let pool: pg.Pool;
let app: ApiApp;
const { logger, lines } = captureLogger('warn');

beforeAll(async () => {
  url = await migratedDatabase('api_faults');
  const u = new URL(url);
  proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || 5432) });
  const through = viaProxy(url, proxy);
  pool = createPool(through, {
    max: 4,
    statement_timeout: 1500,
    application_name: 'api-faults-test',
    options: '-c TimeZone=UTC',
  });
  app = await buildApp({ pool, databaseUrl: through, logger });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await pool?.end();
  await proxy?.close();
});

const event = { event_type: 'fault', data: { a: 1 } };
const api = () => ({ app });

/** Until the API's INSERT waits for the lock `locker` holds. */
async function waitingForLock(locker: pg.Client): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await locker.query(
      `SELECT 1 FROM pg_stat_activity WHERE application_name = 'api-faults-test' AND wait_event_type = 'Lock'`,
    );
    if (rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the INSERT never waited for the lock');
}

describe('PostgreSQL faults', () => {
  it('a connection reset mid-INSERT is a 503, the batch is all or nothing, and the next request works', async () => {
    expect((await post(api(), event)).statusCode).toBe(201);
    const before = await countRows(pool);
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      // The INSERT is held by a lock (so it is surely on its way), then its connection is reset.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE run_logs IN EXCLUSIVE MODE');
      const inFlight = post(api(), { events: Array.from({ length: 50 }, () => event) });
      await waitingForLock(locker);
      proxy.resetAll();
      const cut = await inFlight;
      expect(cut.statusCode, cut.body).toBe(503);
      expect(cut.json()).toMatchObject({ error: 'unavailable' });
      await locker.query('ROLLBACK');
    } finally {
      await locker.end();
    }
    const written = (await countRows(pool)) - before;
    expect([0, 50]).toContain(written); // one statement: never a part of the batch
    if (written === 50) {
      const { rows } = await pool.query('SELECT DISTINCT event_id FROM run_logs WHERE event_type = $1', [
        'fault',
      ]);
      expect(rows).toHaveLength(1); // the same event, the same id: a retry's duplicate is recognisable
    }
    const again = await post(api(), event);
    expect(again.statusCode, again.body).toBe(201);
    expect(lines.some((l) => l.level >= 50)).toBe(true); // a 5xx is logged as an error
  });

  it('a statement held up past statement_timeout is a 503 busy, and nothing is written', async () => {
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      const before = await countRows(pool);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE run_logs IN EXCLUSIVE MODE');
      const res = await post(api(), { events: [event, event] }); // statement_timeout 1.5 s here
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toMatchObject({ error: 'busy' });
      await locker.query('ROLLBACK');
      expect(await countRows(pool)).toBe(before);
    } finally {
      await locker.end();
    }
  });
});
