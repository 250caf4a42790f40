// The API deployable: flags and environment parsed once at the edge, the database checked, then the
// Fastify app listening until SIGTERM/SIGINT (in-flight requests finish, streams end so their clients
// reconnect elsewhere with Last-Event-ID).
import { type DeployableSpec, ExitCode, runDeployable } from '@backfill/engine/cli';
import { connectFailure, createPool, qualified, RUN_LOGS } from '@backfill/engine/db';
import { UsageError } from '@backfill/engine/errors';
import { createLogger, type Logger } from '@backfill/engine/logger';
import { checkRunLogsShape, tableColumns } from '@backfill/engine/migrate';
import type pg from 'pg';
import { buildApp } from './app.js';
import { API_DEFAULTS, API_FLAGS, type ApiConfig, parseApiConfig } from './config.js';

const API_PROGRAM: DeployableSpec = {
  name: 'backfill-api',
  description:
    'The reference application service for run_logs: POST /runs/:runId/logs writes rows with their event_id ' +
    '(once `backfill migrate` has added the column; before that, without it), GET /runs/:runId/logs reads ' +
    'them, GET /runs/:runId/events streams them as server-sent events with id: <event_id>.',
  flags: API_FLAGS,
  helpAfter: `
Environment:
  DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/backfill)
  PORT          port to listen on (default ${API_DEFAULTS.port}; 0: any free port)
  HOST          address to listen on (default ${API_DEFAULTS.host})
  LOG_LEVEL     fatal|error|warn|info|debug|trace|silent (default info); logs are JSON on stderr

Exit codes: 0 stopped by SIGTERM/SIGINT after a clean shutdown · 1 run_logs missing or not run_logs-shaped
            2 bad flag or variable, or no such database · 3 PostgreSQL unreachable at start`,
};

/** run_logs must exist with the columns event-id reads; warns about what streams would like to have. */
async function checkDatabase(pool: pg.Pool, url: string, logger: Logger): Promise<void> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw connectFailure(url, err);
  }
  try {
    const report = checkRunLogsShape(RUN_LOGS, await tableColumns(client, RUN_LOGS));
    for (const w of report.warnings) logger.warn(w);
    const leading = async (column: string) =>
      (
        await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = $1::regclass AND a.attname = $2 AND i.indisvalid`,
          [qualified(RUN_LOGS), column],
        )
      ).rows[0]!.n > 0;
    const byRun = await leading('run_id');
    if (!byRun) {
      logger.warn(
        'no index on run_logs starting with run_id: GET /runs/:runId/logs and event streams walk the primary key ' +
          'and filter by run (fine for small tables; create one CONCURRENTLY for big ones, e.g. on (run_id, id))',
      );
    }
    if (report.hasEventId && !(await leading('event_id'))) {
      // migrate --index=auto defers ix_run_logs_event_id on big tables until finalize builds it.
      logger.info(
        `no valid index on run_logs (event_id) yet: a stream resumed from an event_id finds it by walking the run's rows${byRun ? '' : ' (the whole table: no run_id index either)'}; ` +
          'finalize (or backfill index) builds ix_run_logs_event_id; a numeric Last-Event-ID needs no index',
      );
    }
  } finally {
    client.release();
  }
}

async function serve(config: ApiConfig): Promise<void> {
  const logger = createLogger({ level: config.env.LOG_LEVEL, service: 'backfill-api' });
  const pool = createPool(config.env.DATABASE_URL, {
    max: config.poolSize,
    application_name: 'backfill-api',
    statement_timeout: config.statementTimeoutMs,
    options: '-c TimeZone=UTC',
  });
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  // Handlers first: a signal that comes while it starts (even right after "listening") stops it cleanly.
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated);
      stopping = true;
      logger.info({ signal }, 'stopping: finishing requests in flight, ending streams');
      resolve();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  try {
    await checkDatabase(pool, config.env.DATABASE_URL, logger);
    app = await buildApp({ pool, databaseUrl: config.env.DATABASE_URL, logger, settings: config.settings });
    const address = await app.listen({ port: config.port, host: config.host }).catch((err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
        throw new UsageError(`cannot listen on ${config.host}:${config.port} (${code}): check PORT and HOST`);
      }
      throw err;
    });
    logger.info({ address, settings: config.settings }, 'listening');
    await stopped;
  } finally {
    await app?.close();
    await pool.end();
  }
  logger.info('stopped');
}

await runDeployable(API_PROGRAM, process.argv, (opts) => serve(parseApiConfig(opts, process.env)));
