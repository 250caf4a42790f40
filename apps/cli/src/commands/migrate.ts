import { choice, intIn, parseOptions } from '@backfill/engine/cli';
import { INDEX_DEFER_ABOVE_ROWS, migrateDown, migrateUp } from '@backfill/engine/migrate';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { fmtSeconds, printResult } from '../output.js';
import { addLockFlags, lockFlagsSchema, toLockPolicy } from './lock-flags.js';

const MigrateOptions = lockFlagsSchema.extend({
  index: choice(['auto', 'concurrent', 'defer']),
  indexDeferAbove: intIn({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  down: z.boolean().default(false),
  createDatabase: z.boolean().default(false),
  yes: z.boolean().default(false),
  json: z.boolean().default(false),
});

const INDEX_TEXT: Record<string, string> = {
  'already-valid': 'index ix_run_logs_event_id: already present and valid',
  built: 'index ix_run_logs_event_id: built concurrently',
  'rebuilt-invalid':
    'index ix_run_logs_event_id: was INVALID (a failed concurrent build); dropped and rebuilt',
  deferred:
    'index ix_run_logs_event_id: deferred — `backfill finalize` builds it when the backfill is done (or `backfill index`)',
  'deferred-already-valid': 'index ix_run_logs_event_id: already present and valid',
};

export function registerMigrate(program: Command): void {
  const cmd = program
    .command('migrate')
    .description(
      'Bring the database to the head schema online: add the nullable run_logs.event_id column (instant, under ' +
        'lock_timeout with retries), the ledger tables, then build ix_run_logs_event_id CONCURRENTLY. Safe to re-run.',
    )
    .option(
      '--index <mode>',
      'auto: build the index now for a table up to --index-defer-above rows, else after the backfill (finalize ' +
        'builds it); concurrent: now; defer: leave it for `backfill index`',
      'auto',
    )
    .option(
      '--index-defer-above <rows>',
      'with --index=auto: defer the index for tables with more rows than this (estimated)',
      String(INDEX_DEFER_ABOVE_ROWS),
    )
    .option(
      '--create-database',
      'create the database DATABASE_URL names if it does not exist (without it, a missing database is an error: a mistyped URL must not get an empty run_logs)',
    )
    .option('--down', 'roll back: drop the index concurrently, then the event_id column (needs --yes)')
    .option('--yes', 'with --down: really do it (without it, print the plan and change nothing)')
    .option('--json', 'print the result as one JSON object');
  addLockFlags(cmd).addHelpText(
    'after',
    `
Examples:
  backfill migrate                      # column + ledger + index, online
  backfill migrate --index=defer        # index later: backfill index
  backfill migrate --down               # show what a rollback would do
  backfill migrate --down --yes         # roll back the event_id step`,
  );
  cmd.action(async (raw) => {
    const o = parseOptions(MigrateOptions, raw);
    const { env, logger } = createContext();
    const policy = toLockPolicy(o);
    if (o.down) {
      const report = await migrateDown({ databaseUrl: env.DATABASE_URL, execute: o.yes, logger, ...policy });
      printResult(o.json, report, () => {
        if (report.plan.length === 0)
          return ['nothing to roll back: run_logs has no event_id column or index'];
        const head = report.executed ? 'rolled back:' : 'would do (nothing changed; add --yes to do it):';
        const tail = report.executed ? [`done in ${fmtSeconds(report.seconds)}`] : [];
        return [head, ...report.plan.map((s) => `  - ${s}`), ...tail];
      });
      return;
    }
    const report = await migrateUp({
      databaseUrl: env.DATABASE_URL,
      index: o.index,
      deferAboveRows: o.indexDeferAbove,
      createDatabase: o.createDatabase,
      logger,
      ...policy,
    });
    printResult(o.json, report, () => [
      report.applied.length ? `applied migrations: ${report.applied.join(', ')}` : 'schema already at head',
      ...report.warnings.map((w) => `warning: ${w}`),
      (INDEX_TEXT[report.index] ?? report.index) +
        (report.indexChoice ? ` (auto: ~${report.indexChoice.rows.toLocaleString('en-US')} rows)` : ''),
      `done in ${fmtSeconds(report.seconds)}`,
    ]);
  });
}
