import { type VerifyReport, verifyRange } from '@backfill/engine/backfill';
import { intIn, parseOptions, pkId } from '@backfill/engine/cli';
import { CheckFailedError } from '@backfill/engine/errors';
import { LIMITS } from '@backfill/shared/settings';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { fmtInt, fmtSeconds, printResult } from '../output.js';
import { createProgress } from '../progress.js';

const VerifyOptions = z.object({
  sample: intIn(LIMITS.verifySample),
  full: z.boolean().default(false),
  fromId: pkId.optional(),
  toId: pkId.optional(),
  expectComplete: z.boolean().default(false),
  json: z.boolean().default(false),
});

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'Recompute event ids and compare them with the stored ones: a random sample (default) or every row (--full). ' +
        'Also counts rows still NULL (through ix_run_logs_event_id, not a table scan). Exit 1 on any mismatch, ' +
        'and with --expect-complete also on any NULL.',
    )
    .option('--sample <n>', 'rows to check, at random across the id range', '10000')
    .option('--full', 'check every row, in keyset batches')
    .option('--from-id <id>', 'first id of the range (default: min(id))')
    .option('--to-id <id>', 'last id of the range (default: max(id))')
    .option('--expect-complete', 'fail (exit 1) if any row in the range still has a NULL event_id')
    .option('--json', 'print the report as one JSON object')
    .action(async (raw) => {
      const o = parseOptions(VerifyOptions, raw);
      const { env, logger } = createContext();
      const progress = createProgress({ label: 'verify', logger, json: o.json });
      let report: VerifyReport;
      try {
        report = await verifyRange({
          databaseUrl: env.DATABASE_URL,
          mode: o.full ? { full: true } : { full: false, sample: o.sample },
          ...(o.fromId ? { fromId: BigInt(o.fromId) } : {}),
          ...(o.toId ? { toId: BigInt(o.toId) } : {}),
          onProgress: (n) => progress.update(n),
          logger,
        });
      } finally {
        progress.stop();
      }
      const failed = report.mismatches > 0 || (o.expectComplete && report.nullCount > 0);
      printResult(o.json, { ...report, ok: !failed }, () => [
        `verify (${report.mode}) ids ${report.fromId}..${report.toId}: ${fmtInt(report.rowsChecked)} rows checked in ${fmtSeconds(report.seconds)}`,
        `  matching ids:     ${fmtInt(report.matches)}`,
        `  mismatches:       ${fmtInt(report.mismatches)}`,
        ...report.firstMismatches.map((m) => `    id ${m.id}: stored ${m.stored}, expected ${m.expected}`),
        `  NULL event_id in range: ${fmtInt(report.nullCount)}`,
        ...(report.uncomputable
          ? [`  rows whose id cannot be computed: ${fmtInt(report.uncomputable)}`]
          : []),
        failed ? 'FAILED' : 'OK',
      ]);
      if (failed) {
        throw new CheckFailedError(
          report.mismatches > 0
            ? `verify failed: ${report.mismatches} stored event ids differ from the recomputed ones`
            : `verify failed: ${report.nullCount} rows still have no event_id (--expect-complete)`,
        );
      }
    });
}
