// `backfill demo-data`: fills run_logs with realistic legacy rows (event_id NULL) for demos and benchmarks.

import { DEMO_MAX_ROWS, type DemoDataSummary, insertDemoRows } from '@backfill/demo-data';
import { int, parseOptions } from '@backfill/engine/cli';
import { createPool, ensureDatabase, RUN_LOGS } from '@backfill/engine/db';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { createProgress } from '../progress.js';

const DemoDataOptions = z.object({
  rows: int(1, DEMO_MAX_ROWS),
  seed: int(0),
  sparse: z.boolean().default(false),
  createDatabase: z.boolean().default(false),
  json: z.boolean().default(false),
});

const LOG_EVERY_MS = 3000;

const fmt = (n: number) => n.toLocaleString('en-US');

/** 46712 → "46,700": three significant digits are all a rate deserves. */
const rate = (perSecond: number) => fmt(Number(perSecond.toPrecision(3)));

export function summaryLine(s: DemoDataSummary & { sparse: boolean }): string {
  const perSecond = s.rows / Math.max(s.seconds, 0.001);
  return (
    `inserted ${fmt(s.rows)} rows (ids ${s.minId}..${s.maxId}${s.sparse ? ', sparse' : ''}) ` +
    `in ${s.seconds.toFixed(1)}s, ${rate(perSecond)} rows/s`
  );
}

export function registerDemoData(program: Command): void {
  program
    .command('demo-data')
    .summary('insert realistic legacy run_logs rows (event_id NULL) for demos and benchmarks')
    .description(
      'Insert realistic legacy rows into run_logs, as the old tool wrote them: many interleaved runs, mixed ' +
        'levels and event types, jsonb data with nested objects, arrays, unicode and numbers, and event_id ' +
        'left NULL. Creates the database and the table (legacy DDL) when they do not exist.\n\n' +
        'The same --seed always produces the same rows. Ids come from the table sequence; with --sparse they ' +
        'are spread over a much larger range instead (clusters of consecutive ids separated by gaps of ' +
        'varying length), and the sequence is moved past them afterwards.',
    )
    .addOption(
      new Option('--rows <n>', `rows to insert, 1..${fmt(DEMO_MAX_ROWS)}`).default('100000', '100,000'),
    )
    .addOption(new Option('--seed <n>', 'seed for the generated contents (and sparse ids)').default('1', '1'))
    .option('--sparse', 'spread ids over ~10,000× the row count, with dense and empty stretches')
    .option('--create-database', 'create the database DATABASE_URL names if it does not exist')
    .option('--json', 'print the summary as one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ backfill demo-data --rows 1000000
  $ DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch backfill demo-data --rows 50000 --sparse --json

Output: one line such as "inserted 1,000,000 rows (ids 1..1000000) in 30.2s, 33,100 rows/s", or with --json
  {"rows":…,"minId":"…","maxId":"…","seconds":…,"rowsPerSecond":…,"seed":…,"sparse":…,"table":…,"createdTable":…}`,
    )
    .action(async (raw: Record<string, unknown>) => {
      const opts = parseOptions(DemoDataOptions, raw);
      const { env, logger } = createContext();
      await ensureDatabase(env.DATABASE_URL, logger, { create: opts.createDatabase });
      const pool = createPool(env.DATABASE_URL, { max: 1 });
      const progress = createProgress({
        label: 'demo-data',
        logger,
        json: opts.json,
        intervalMs: LOG_EVERY_MS,
      });
      let barStarted = false;
      let summary: DemoDataSummary;
      try {
        summary = await insertDemoRows(pool, {
          table: RUN_LOGS,
          rows: opts.rows,
          seed: opts.seed,
          sparse: opts.sparse,
          logger,
          onProgress: (done, total) => {
            // Started at the first report, so a "created table" log line comes before the bar, not inside it.
            if (!barStarted) progress.setTotal(total);
            barStarted = true;
            progress.update(done);
          },
        });
      } finally {
        progress.stop();
        await pool.end();
      }
      const rowsPerSecond = Math.round(summary.rows / Math.max(summary.seconds, 0.001));
      if (opts.json) {
        const out = {
          ...summary,
          rowsPerSecond,
          seed: opts.seed,
          sparse: opts.sparse,
          table: `${RUN_LOGS.schema}.${RUN_LOGS.name}`,
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } else {
        process.stdout.write(`${summaryLine({ ...summary, sparse: opts.sparse })}\n`);
      }
    });
}
