// The API under test: built in-process on the test file's own database (app.inject() without a port, or
// listening on a free loopback port for real clients), with its pool; `close` ends both.
import { createPool } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';
import { captureLogger } from '../../../test-support/logger.js';
import { type ApiApp, buildApp } from '../src/app.js';
import type { ApiSettings } from '../src/config.js';

export interface TestApi {
  app: ApiApp;
  pool: pg.Pool;
  /** http://127.0.0.1:<port> when started with listen. */
  base: string;
  lines: ReturnType<typeof captureLogger>['lines'];
  close(): Promise<void>;
}

export async function startApi(
  url: string,
  opts: { settings?: Partial<ApiSettings>; listen?: boolean; logger?: Logger } = {},
): Promise<TestApi> {
  const captured = captureLogger('info');
  const logger = opts.logger ?? captured.logger;
  const pool = createPool(url, { max: 6, application_name: 'backfill-api-test', options: '-c TimeZone=UTC' });
  const app = await buildApp({ pool, databaseUrl: url, logger, settings: opts.settings });
  let base = '';
  if (opts.listen) base = await app.listen({ port: 0, host: '127.0.0.1' });
  else await app.ready();
  return {
    app,
    pool,
    base,
    lines: captured.lines,
    async close() {
      await app.close();
      await pool.end();
    },
  };
}

export const RUN = '6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b';

/** POST a body (an object, or raw JSON text as a client wrote it) to /runs/:runId/logs. */
export function post(api: { app: ApiApp }, body: unknown, runId = RUN) {
  return api.app.inject({
    method: 'POST',
    url: `/runs/${runId}/logs`,
    headers: { 'content-type': 'application/json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Every row of the table, in id order, as the backfill would read it (event_id included). */
export async function tableRows(pool: pg.Pool) {
  const { rows } = await pool.query(
    'SELECT id::text AS id, run_id::text AS run_id, level, event_type, message, data, event_id FROM run_logs ORDER BY id',
  );
  return rows as Array<{
    id: string;
    run_id: string;
    level: string;
    event_type: string;
    message: string | null;
    data: unknown;
    event_id: string | null;
  }>;
}

export const countRows = async (pool: pg.Pool) =>
  Number((await pool.query('SELECT count(*) AS n FROM run_logs')).rows[0].n);
