// `backfill demo` (npm run demo): the whole rollout on this machine, end to end, in a database of
// its own: legacy data → online migration → backfill → verify → summary.
import {
  connectClient,
  createPool,
  DEFAULT_LOCK_POLICY,
  ensureDatabase,
  insertDemoRows,
  migrateUp,
  quoteIdent,
  redactUrl,
  runBackfill,
  UsageError,
  verifyRange,
} from '@backfill/engine';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { int, parseOptions } from '../options.js';
import { fmtInt, fmtSeconds, printResult } from '../output.js';
import { createProgress } from '../progress.js';

const DemoOptions = z.object({
  rows: int(1, 100_000_000),
  batchSize: int(1, 100_000),
  json: z.boolean().default(false),
});

/** The demo's own database: DATABASE_URL's name with a `_demo` suffix, so it never touches real data. */
export function demoDatabaseUrl(databaseUrl: string): string {
  const u = new URL(databaseUrl);
  const name = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'backfill';
  u.pathname = `/${encodeURIComponent(name.endsWith('_demo') ? name : `${name}_demo`)}`;
  return u.toString();
}

async function resetDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!name.endsWith('_demo'))
    throw new UsageError(`refusing to reset ${name}: the demo only resets *_demo databases`);
  u.pathname = '/postgres';
  const admin = await connectClient(u.toString());
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the whole rollout on this machine in its own database (<DATABASE_URL name>_demo, reset first): ' +
        'generate legacy rows, migrate online, backfill, verify, and print a summary.',
    )
    .option('--rows <n>', 'legacy rows to generate', '1000000')
    .option('--batch-size <n>', 'rows per backfill batch', '5000')
    .option('--json', 'print the summary as one JSON object')
    .action(async (raw) => {
      const o = parseOptions(DemoOptions, raw);
      const { env, logger } = createContext();
      const url = demoDatabaseUrl(env.DATABASE_URL);
      const out = (line: string) => {
        if (!o.json) process.stdout.write(`${line}\n`);
      };
      const started = Date.now();
      out(`backfill demo: database ${redactUrl(url)} (reset)`);
      await ensureDatabase(env.DATABASE_URL, logger).catch((err) => {
        if ((err as { exitCode?: number }).exitCode === 3) throw err;
      });
      await resetDatabase(url);
      await ensureDatabase(url, logger);

      const dataProgress = createProgress({ label: 'demo data', logger, json: o.json });
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
        await c.query('ANALYZE run_logs'); // what autovacuum would soon do; gives the progress bar its total
        await c.end();
      });
      out(
        `[1/4] legacy data: ${fmtInt(data.rows)} rows written by "another tool" (no event_id column) in ${fmtSeconds(data.seconds)}`,
      );

      const migrated = await migrateUp({
        databaseUrl: url,
        index: 'concurrent',
        logger,
        ...DEFAULT_LOCK_POLICY,
      });
      out(
        `[2/4] migrate: ${migrated.applied.join(', ')}; index ${migrated.index} — online, in ${fmtSeconds(migrated.seconds)}`,
      );

      const runProgress = createProgress({ label: 'backfill', logger, json: o.json });
      let done = 0;
      const run = await runBackfill({
        databaseUrl: url,
        batchSize: o.batchSize,
        maxRowsPerSecond: 0,
        statementTimeoutMs: 30_000,
        lockTimeoutMs: 2000,
        onBadRow: 'fail',
        commit: true,
        onStart: (p) => runProgress.setTotal(p.estimatedRows),
        onBatch: (b) => {
          done += b.rowsRead;
          runProgress.update(done);
        },
        logger,
      }).finally(() => runProgress.stop());
      out(
        `[3/4] backfill: ${fmtInt(run.rowsUpdated)} rows in ${fmtSeconds(run.seconds)} (${fmtInt(run.rowsPerSecond)} rows/s, ${run.batches} batches)`,
      );

      const verify = await verifyRange({ databaseUrl: url, mode: { full: false, sample: 10_000 }, logger });
      const ok = verify.mismatches === 0 && verify.nullCount === 0;
      out(
        `[4/4] verify: ${fmtInt(verify.rowsChecked)} sampled rows, ${verify.mismatches} mismatches, ${fmtInt(verify.nullCount)} rows without event_id → ${ok ? 'OK' : 'FAILED'}`,
      );
      const summary = {
        database: redactUrl(url),
        rows: data.rows,
        migrate: migrated,
        run,
        verify,
        ok,
        seconds: (Date.now() - started) / 1000,
      };
      printResult(o.json, summary, () => [`demo finished in ${fmtSeconds(summary.seconds)}`]);
      if (!ok) process.exitCode = 1;
    });
}
