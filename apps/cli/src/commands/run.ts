import { type RunSummary, runBackfill } from '@backfill/engine/backfill';
import { durationIn, intIn, parseOptions, pkId } from '@backfill/engine/cli';
import { resumePointOf } from '@backfill/engine/errors';
import {
  formatDuration,
  LIMITS,
  SINGLE_PROCESS_RECONNECT_BUDGET_MS,
  SINGLE_PROCESS_WRITERS,
} from '@backfill/shared/settings';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { fmtInt, fmtSeconds, printResult } from '../output.js';
import { createProgress } from '../progress.js';
import { addRunSettingFlags, runSettingsFromFlags } from '../run-settings-flags.js';
import { onInterrupt } from '../signals.js';

const RunOptions = z.object({
  commit: z.boolean().default(false),
  fromId: pkId.optional(),
  toId: pkId.optional(),
  reconnectBudget: durationIn(LIMITS.reconnectBudgetMs),
  writers: intIn(LIMITS.writers),
  json: z.boolean().default(false),
});

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description(
      'Backfill event_id in this one process (no Redis): keyset batches over the primary key, ids computed here, ' +
        'one set-based UPDATE per batch that never overwrites an existing id. Dry run unless --commit. ' +
        'Resumable: re-running continues where it stopped.',
    )
    .option('--commit', 'write (without it: read, compute and report, write nothing)')
    .option('--from-id <id>', 'first id of the range (default: min(id))')
    .option(
      '--to-id <id>',
      'last id of the range (default: max(id) read at start, so the run ends under inserts)',
    )
    .option(
      '--writers <n>',
      'UPDATE statements in flight at once, each on its own connection',
      String(SINGLE_PROCESS_WRITERS),
    )
    .option(
      '--reconnect-budget <duration>',
      'keep reconnecting to a lost PostgreSQL this long before stopping (exit 3, with the resume command)',
      formatDuration(SINGLE_PROCESS_RECONNECT_BUDGET_MS),
    )
    .option('--json', 'print the final summary as one JSON object');
  addRunSettingFlags(cmd, { withDefaults: true, distributed: false })
    .addHelpText(
      'after',
      `
Examples:
  backfill run                                   # dry run: what would be written
  backfill run --commit                          # backfill the whole table
  backfill run --commit --max-rows-per-second 20000 --on-bad-row skip
  backfill run --commit --gate-replication-lag 5s --window 22:00-06:00 --timezone Europe/Berlin
Stopping: Ctrl-C (or SIGTERM) finishes the batch in flight and prints how to resume (exit 130/143).`,
    )
    .action(async (raw) => {
      const o = parseOptions(RunOptions, raw);
      const settings = runSettingsFromFlags(raw);
      const { env, logger } = createContext();
      const progress = createProgress({ label: o.commit ? 'backfill' : 'dry run', logger, json: o.json });
      const interrupt = onInterrupt((sig) =>
        logger.warn(`${sig}: finishing the batch in flight, then stopping (send it again to exit at once)`),
      );
      let done = 0;
      let summary: RunSummary;
      let toId: bigint | undefined;
      try {
        summary = await runBackfill({
          databaseUrl: env.DATABASE_URL,
          batchSize: settings.batchSize,
          ...(o.fromId ? { fromId: BigInt(o.fromId) } : {}),
          ...(o.toId ? { toId: BigInt(o.toId) } : {}),
          maxRowsPerSecond: settings.maxRowsPerSecond,
          statementTimeoutMs: settings.statementTimeoutMs,
          lockTimeoutMs: settings.lockTimeoutMs,
          onBadRow: settings.onBadRow,
          settings,
          onHold: (hold) => progress.note(hold ? `held: ${hold.reason}` : ''),
          writers: o.writers,
          reconnectBudgetMs: o.reconnectBudget,
          commit: o.commit,
          signal: interrupt.signal,
          onStart: (plan) => {
            toId = plan.toId;
            progress.setTotal(plan.estimatedRows);
          },
          onBatch: (b) => {
            done += b.rowsRead;
            logger.debug({ ...b, lastId: b.lastId.toString(), sample: undefined }, 'batch');
            progress.update(done, { lastId: b.lastId.toString() });
          },
          logger,
        });
      } catch (err) {
        // Stopped by a fault after some batches committed: say exactly where to pick up.
        const after = resumePointOf(err);
        if (o.commit && after !== undefined && toId !== undefined) {
          process.stderr.write(
            `resume with: backfill run --commit --from-id ${after + 1n} --to-id ${toId}\n`,
          );
        }
        throw err;
      } finally {
        progress.stop();
        interrupt.dispose();
      }
      const sig = interrupt.received();
      const resume = summary.complete
        ? null
        : `backfill run --commit --from-id ${summary.cursor + 1n} --to-id ${summary.toId}`;
      printResult(o.json, { ...summary, interruptedBy: sig, resumeCommand: resume }, () =>
        describe(summary, sig, resume),
      );
      if (!summary.complete) process.exitCode = interrupt.exitCode();
    });
}

function describe(s: RunSummary, sig: string | null, resume: string | null): string[] {
  const lines: string[] = [];
  const rate = `${fmtInt(s.rowsPerSecond)} rows/s`;
  if (!s.commit) {
    lines.push(
      `dry run (nothing written): would update ${fmtInt(s.rowsUpdated)} rows in ${fmtInt(s.batches)} batches ` +
        `(ids ${s.fromId}..${s.toId}, ${fmtSeconds(s.seconds)})`,
    );
    for (const x of s.sample) lines.push(`  id ${x.id} → ${x.eventId}`);
    lines.push('add --commit to write');
  } else if (s.complete) {
    lines.push(
      `backfill complete: ${fmtInt(s.rowsUpdated)} rows updated in ${fmtSeconds(s.seconds)} (${rate}), ${fmtInt(s.batches)} batches, ids ${s.fromId}..${s.toId}`,
    );
  } else {
    lines.push(
      `stopped${sig ? ` by ${sig}` : ''} after id ${s.cursor}: ${fmtInt(s.rowsUpdated)} rows updated in ${fmtSeconds(s.seconds)} (${rate})`,
    );
  }
  if (s.rowsSkipped)
    lines.push(
      `${fmtInt(s.rowsSkipped)} bad rows skipped (their event_id stays NULL; see the backfill_errors table)`,
    );
  if (s.rowsRewritten)
    lines.push(
      `${fmtInt(s.rowsRewritten)} rows were edited while their batch ran: written again from their new content`,
    );
  if (s.retries) lines.push(`${fmtInt(s.retries)} batches retried after timeouts or lost connections`);
  if (resume) lines.push(`resume with: ${resume}`);
  return lines;
}
