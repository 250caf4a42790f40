import type { StartResult } from '@backfill/control';
import { choice, intIn, parseOptions, pkId } from '@backfill/engine/cli';
import { EVENT_ID_VERSION } from '@backfill/shared/event-id';
import { LIMITS, PLAN_DEFAULTS } from '@backfill/shared/settings';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { fmtInt, printResult } from '../output.js';
import { addRunSettingFlags, runSettingsFromFlags } from '../run-settings-flags.js';

// Loaded on use: commands that do not need it start faster and lighter.
const control = () => import('@backfill/control');

const StartOptions = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, {
    message: 'must be 1-100 letters, digits, _ . - (starting with a letter or digit)',
  }),
  commit: z.boolean().default(false),
  shardRows: intIn(LIMITS.shardRows),
  fromId: pkId.optional(),
  toId: pkId.optional(),
  order: choice(['asc', 'desc']),
  planner: choice(['auto', 'keyset', 'histogram']),
  analyze: z.boolean().default(false),
  json: z.boolean().default(false),
});

export function registerStart(program: Command): void {
  const cmd = program
    .command('start')
    .description(
      'Plan a distributed run: split the id range into shards that follow row density, record the run and its ' +
        'shards in the ledger (PostgreSQL), and enqueue one BullMQ job per shard for `backfill worker` processes. ' +
        'Without --commit it only prints the plan. Starting an existing name again changes nothing.',
    )
    .requiredOption('--name <name>', 'the run name (unique; used by status, pause, retry, …)')
    .option('--commit', 'record and enqueue (without it: plan only)')
    .option('--shard-rows <n>', 'target rows per shard', String(PLAN_DEFAULTS.shardRows))
    .option('--from-id <id>', 'first id (default: min(id))')
    .option('--to-id <id>', 'last id (default: max(id) now, so the run ends under constant inserts)')
    .option(
      '--order <order>',
      'asc, or desc: shards with the newest ids are queued first (each shard is still walked in ascending ' +
        "id order, and a split shard's newer half is queued first)",
      PLAN_DEFAULTS.order,
    )
    .option(
      '--planner <method>',
      'auto (keyset walk for tables up to 5M rows, else the id histogram), keyset, histogram',
      PLAN_DEFAULTS.planner,
    )
    .option(
      '--analyze',
      'allow raising the id column statistics target and ANALYZE for an exact histogram (restored after)',
    )
    .option('--json', 'print the result as one JSON object');
  addRunSettingFlags(cmd, { withDefaults: true, distributed: true })
    .addHelpText(
      'after',
      `
Examples:
  backfill start --name eid-2026-11                  # print the plan
  backfill start --name eid-2026-11 --commit         # record and enqueue; then run: backfill worker
  backfill start --name eid-2026-11 --commit --order desc --max-rows-per-second 30000
  backfill start --name eid-2026-11 --commit --window 22:00-06:00 --timezone Europe/Berlin
Settings can be changed while the run goes: backfill set NAME --max-rows-per-second … (see backfill set --help).`,
    )
    .action(async (raw) => {
      const o = parseOptions(StartOptions, raw);
      const settings = runSettingsFromFlags(raw);
      const { env, logger } = createContext();
      const result = await (await control()).withControl(
        {
          databaseUrl: env.DATABASE_URL,
          redisUrl: env.REDIS_URL,
          prefix: env.QUEUE_PREFIX,
          backend: env.QUEUE_BACKEND,
          logger,
        },
        async (ctx) =>
          (await control()).startRun(ctx, {
            name: o.name,
            shardRows: o.shardRows,
            ...(o.fromId ? { fromId: BigInt(o.fromId) } : {}),
            ...(o.toId ? { toId: BigInt(o.toId) } : {}),
            order: o.order,
            method: o.planner,
            analyze: o.analyze,
            settings,
            commit: o.commit,
          }),
      );
      printResult(o.json, result, () => describe(result));
    });
}

function describe(r: StartResult): string[] {
  if (r.outcome === 'exists') {
    const run = r.run!;
    return [
      `run "${run.name}" already exists (${run.status}, ids ${run.fromId}..${run.toId}, event-id v${run.eventIdVersion}): nothing changed`,
      'see: backfill status ' + run.name,
    ];
  }
  const plan = r.plan!;
  const sizes = plan.shards.map((s) => s.estimatedRows).sort((a, b) => a - b);
  const lines = [
    `plan: ${fmtInt(plan.shards.length)} shards over ids ${plan.fromId}..${plan.toId}, ~${fmtInt(plan.estimatedRows)} rows ` +
      `(target ${fmtInt(plan.shardRows)} a shard; min/median/max ${fmtInt(sizes[0] ?? 0)}/${fmtInt(sizes[Math.floor(sizes.length / 2)] ?? 0)}/${fmtInt(sizes[sizes.length - 1] ?? 0)}) in ${plan.ms} ms`,
    ...plan.notes.map((n) => `  ${n}`),
  ];
  if (r.outcome === 'planned')
    lines.push(`event-id v${EVENT_ID_VERSION}; nothing recorded or enqueued: add --commit`);
  else
    lines.push(
      `run "${r.run!.name}" started: ${fmtInt(r.enqueued)} shard jobs enqueued. Start workers: backfill worker`,
    );
  return lines;
}
