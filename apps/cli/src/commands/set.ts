// `backfill set NAME --flag value …`: change a run's settings while it runs (rate cap, batch sizing,
// gates, window, timeouts). Workers use the new values from their next batch.
import { parseOptions } from '@backfill/engine/cli';
import { UsageError } from '@backfill/engine/errors';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { printResult } from '../output.js';
import { addRunSettingFlags, parseRunSettingFlags, RUN_SETTING_FLAGS } from '../run-settings-flags.js';

// Loaded on use: commands that do not need it start faster and lighter.
const control = () => import('@backfill/control');

const flagOf = (key: string) => RUN_SETTING_FLAGS.find((f) => f.key === key)?.flags.split(' ')[0] ?? key;
const shown = (v: unknown) => (v === null ? 'off' : typeof v === 'string' ? v : JSON.stringify(v));

export function registerSet(program: Command): void {
  const cmd = program
    .command('set <name>')
    .description(
      "Change a run's settings while it runs: workers pick them up at their next batch (each change is recorded " +
        'with its old and new value: backfill status NAME shows the last ones).',
    )
    .option('--json', 'print the changes as one JSON object');
  addRunSettingFlags(cmd, { withDefaults: false, distributed: true })
    .addHelpText(
      'after',
      `
Examples:
  backfill set eid-1 --max-rows-per-second 4000          # slow it down (0 = unlimited)
  backfill set eid-1 --target-batch-ms 200 --max-batch 10000
  backfill set eid-1 --gate-replication-lag 5s --gate-wal-rate 50MB
  backfill set eid-1 --window 22:00-06:00 --timezone Europe/Berlin   # --window off: always`,
    )
    .action(async (name: string, raw) => {
      const { json } = parseOptions(z.object({ json: z.boolean().default(false) }), raw);
      const patch = parseRunSettingFlags(raw);
      if (Object.keys(patch).length === 0)
        throw new UsageError('set: give at least one setting to change (see backfill set --help)');
      const { env, logger } = createContext();
      const r = await (await control()).withControl(
        {
          databaseUrl: env.DATABASE_URL,
          redisUrl: env.REDIS_URL,
          prefix: env.QUEUE_PREFIX,
          backend: env.QUEUE_BACKEND,
          logger,
        },
        async (ctx) => {
          try {
            return await (await control()).setRunSettings(ctx, name, patch);
          } catch (err) {
            // "setting minBatchSize: …" → "--min-batch: …": name the flag the operator typed.
            const m = err instanceof UsageError ? /^setting (\w+): (.*)$/s.exec(err.message) : null;
            if (m) throw new UsageError(`${flagOf(m[1]!)}: ${m[2]}`);
            throw err;
          }
        },
      );
      printResult(json, { name, status: r.run.status, changes: r.changes }, () =>
        r.changes.length
          ? [
              `run ${name}: ${r.changes.length} setting${r.changes.length > 1 ? 's' : ''} changed`,
              ...r.changes.map((c) => `  ${flagOf(c.key)}: ${shown(c.from)} → ${shown(c.to)}`),
            ]
          : [`run ${name}: nothing changed (already set)`],
      );
    });
}
