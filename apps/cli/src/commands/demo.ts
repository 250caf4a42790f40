// `backfill demo` (npm run demo): the whole rollout on this machine, end to end, in a database of its
// own: legacy data → online migration → a distributed run with two worker processes → live status →
// finalize (verify) → summary.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunStatusReport } from '@backfill/control';
import { insertDemoRows } from '@backfill/demo-data';
import { int, parseOptions } from '@backfill/engine/cli';
import { redactUrl } from '@backfill/engine/config';
import {
  adminUrl,
  connectClient,
  createPool,
  databaseName,
  ensureDatabase,
  quoteIdent,
} from '@backfill/engine/db';
import { UsageError } from '@backfill/engine/errors';
import type { Logger } from '@backfill/engine/logger';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { fmtInt, fmtSeconds, printResult } from '../output.js';
import { createProgress } from '../progress.js';

// Loaded on use: commands that do not need it start faster and lighter.
const control = () => import('@backfill/control');

const DemoOptions = z.object({
  rows: int(1, 100_000_000),
  workers: int(1, 16),
  shardRows: int(1, 100_000_000),
  json: z.boolean().default(false),
});

const CLI_BIN = fileURLToPath(new URL('../../bin/backfill.js', import.meta.url));
const DEMO_PREFIX = 'backfill-demo';

/** The demo's own database: DATABASE_URL's name with a `_demo` suffix, so it never touches real data. */
export function demoDatabaseUrl(databaseUrl: string): string {
  const u = new URL(databaseUrl);
  const name = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'backfill';
  u.pathname = `/${encodeURIComponent(name.endsWith('_demo') ? name : `${name}_demo`)}`;
  return u.toString();
}

/** Put on the database the demo creates: the only kind of database it will ever drop. */
export const DEMO_DATABASE_MARK = 'made by `backfill demo`: dropped and made again by each demo';

/**
 * Drops the demo's database if the demo made it (its comment is DEMO_DATABASE_MARK), then makes it
 * anew with that mark. A database of that name the demo did not make is never touched.
 */
async function resetDatabase(url: string, logger: Logger): Promise<void> {
  const name = databaseName(url);
  if (!name.endsWith('_demo'))
    throw new UsageError(`refusing to reset ${name}: the demo only resets *_demo databases`);
  const admin = await connectClient(adminUrl(url));
  try {
    const { rows } = await admin.query<{ mark: string | null }>(
      'SELECT shobj_description(oid, $2) AS mark FROM pg_database WHERE datname = $1',
      [name, 'pg_database'],
    );
    if (rows[0] && rows[0].mark !== DEMO_DATABASE_MARK) {
      throw new UsageError(
        `database ${name} exists and was not made by \`backfill demo\`: not dropping it. ` +
          'Point DATABASE_URL at another name (the demo uses <name>_demo), or drop it yourself.',
      );
    }
    if (rows[0]) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  await ensureDatabase(url, logger, { create: true, comment: DEMO_DATABASE_MARK });
}

interface DemoWorkers {
  procs: ChildProcess[];
  logFile: string;
  /** Resolves once every worker polls for work; rejects if one exits first. */
  ready: Promise<void>;
}

function spawnWorkers(n: number, env: NodeJS.ProcessEnv): DemoWorkers {
  const logFile = join(tmpdir(), `backfill-demo-workers-${process.pid}.log`);
  const log = createWriteStream(logFile);
  const started: Promise<void>[] = [];
  const procs = Array.from({ length: n }, () => {
    // One shard each: the run's parallelism (2) spread over the demo's workers, so each shows its part.
    const p = spawn(process.execPath, [CLI_BIN, 'worker', '--poll-interval', '250ms', '--concurrency', '1'], {
      env: { ...env, QUEUE_PREFIX: DEMO_PREFIX, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    p.stderr!.pipe(log, { end: false });
    started.push(
      new Promise<void>((resolve, reject) => {
        let seen = '';
        const onData = (d: Buffer) => {
          seen = (seen + d.toString()).slice(-4096);
          if (!seen.includes('"msg":"worker started"')) return;
          p.stderr!.off('data', onData);
          resolve();
        };
        p.stderr!.on('data', onData);
        p.once('exit', (code) =>
          reject(new Error(`a worker exited (${code}) before it started; see ${logFile}`)),
        );
      }),
    );
    return p;
  });
  return { procs, logFile, ready: Promise.all(started).then(() => undefined) };
}

async function stopWorkers(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
        }),
    ),
  );
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the whole rollout on this machine in its own database (<DATABASE_URL name>_demo, reset first): ' +
        'legacy rows, online migration, a distributed run with worker processes, live status, finalize, summary.',
    )
    .option('--rows <n>', 'legacy rows to generate', '1000000')
    .option('--workers <n>', 'worker processes', '2')
    .option('--shard-rows <n>', 'rows per shard', '50000')
    .option('--json', 'print the summary as one JSON object')
    .action(async (raw) => {
      const o = parseOptions(DemoOptions, raw);
      const { env, logger } = createContext();
      const url = demoDatabaseUrl(env.DATABASE_URL);
      const out = (line: string) => {
        if (!o.json) process.stdout.write(`${line}\n`);
      };
      const started = Date.now();
      // Both services up front, each with its address and how to start it.
      if (env.QUEUE_BACKEND === 'redis') (await (await control()).connectRedis(env.REDIS_URL)).disconnect();
      out(
        `backfill demo: database ${redactUrl(url)} (reset), Redis ${redactUrl(env.REDIS_URL)}, prefix ${DEMO_PREFIX}`,
      );
      await resetDatabase(url, logger);

      const dataProgress = createProgress({ label: 'legacy rows', logger, json: o.json });
      dataProgress.setTotal(o.rows);
      const pool = createPool(url, { max: 2 });
      const data = await insertDemoRows(pool, {
        rows: o.rows,
        onProgress: (n) => dataProgress.update(n),
        logger,
      }).finally(async () => {
        dataProgress.stop();
        await pool.end();
      });
      await connectClient(url).then(async (c) => {
        await c.query('ANALYZE run_logs'); // what autovacuum would soon do
        await c.end();
      });
      out(
        `[1/5] legacy data: ${fmtInt(data.rows)} rows as another tool wrote them (no event_id column), ${fmtSeconds(data.seconds)}`,
      );

      const migrated = await migrateUp({
        databaseUrl: url,
        index: 'concurrent',
        logger,
        ...DEFAULT_LOCK_POLICY,
      });
      out(
        `[2/5] migrate: ${migrated.applied.join(', ')}; index ${migrated.index}; ${fmtSeconds(migrated.seconds)}`,
      );

      const controlConfig = {
        databaseUrl: url,
        redisUrl: env.REDIS_URL,
        prefix: DEMO_PREFIX,
        backend: env.QUEUE_BACKEND,
        logger,
      };
      // The fleet stands before the run starts, as in production: every worker shows its part, and
      // the rows/s below is the backfill's, not the workers' start-up.
      const { procs, logFile, ready } = spawnWorkers(o.workers, {
        ...process.env,
        DATABASE_URL: url,
        REDIS_URL: env.REDIS_URL,
      });
      let runStarted = 0;
      let enqueued = 0;
      let progress: ReturnType<typeof createProgress> | undefined;
      let final: RunStatusReport;
      try {
        await ready;
        runStarted = Date.now();
        const start = await (await control()).withControl(controlConfig, async (ctx) =>
          (await control()).startRun(ctx, {
            name: 'demo',
            shardRows: o.shardRows,
            order: 'asc',
            method: 'auto',
            analyze: false,
            settings: RUN_SETTINGS_DEFAULTS,
            commit: true,
          }),
        );
        enqueued = start.enqueued;
        out(
          `[3/5] start: run "demo", ${start.enqueued} shards (${start.plan?.notes[0] ?? ''}); ${o.workers} worker processes`,
        );
        const bar = createProgress({ label: 'backfill', logger, json: o.json, intervalMs: 3000 });
        progress = bar;
        final = await (await control()).withControl(controlConfig, async (ctx) => {
          for (;;) {
            const s = await (await control()).readRunStatus(ctx, 'demo');
            bar.setTotal(Math.max(s.progress.estimatedRows, s.progress.rowsUpdated));
            bar.update(s.progress.rowsUpdated, { shards: s.progress.shards });
            if (s.run.status !== 'running') return s;
            if (procs.every((p) => p.exitCode !== null)) {
              throw new Error(`every worker exited early; see ${logFile}`);
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        });
      } finally {
        progress?.stop();
        await stopWorkers(procs);
      }
      const runSeconds = (Date.now() - runStarted) / 1000;
      out(
        `[4/5] backfill: ${fmtInt(final.progress.rowsUpdated)} rows in ${fmtSeconds(runSeconds)} ` +
          `(${fmtInt(Math.round(final.progress.rowsUpdated / runSeconds))} rows/s), run ${final.run.status}`,
      );
      if (final.run.status !== 'completed') {
        process.exitCode = 1;
        out(
          `the run ended ${final.run.status}: backfill status demo (DATABASE_URL=${redactUrl(url)} QUEUE_PREFIX=${DEMO_PREFIX})`,
        );
        return;
      }
      const fin = await (await control()).withControl(controlConfig, async (ctx) =>
        (await control()).finalizeRun(ctx, 'demo', { sample: 10_000 }),
      );
      out(
        `[5/5] finalize: ${fmtInt(fin.verify.rowsChecked)} sampled rows recomputed, ${fin.verify.mismatches} mismatches, ` +
          `${fmtInt(fin.verify.nullCount)} rows without event_id → OK`,
      );
      const summary = {
        database: redactUrl(url),
        rows: data.rows,
        workers: o.workers,
        shards: enqueued,
        backfillSeconds: runSeconds,
        rowsPerSecond: Math.round(final.progress.rowsUpdated / runSeconds),
        verify: fin.verify,
        seconds: (Date.now() - started) / 1000,
      };
      printResult(o.json, summary, () => [
        `demo finished in ${fmtSeconds(summary.seconds)}: ${fmtInt(summary.rows)} rows backfilled by ${o.workers} workers at ` +
          `${fmtInt(summary.rowsPerSecond)} rows/s, verified. Look around: DATABASE_URL=${redactUrl(url)} QUEUE_PREFIX=${DEMO_PREFIX} npx backfill status demo`,
      ]);
    });
}
