import { parseOptions } from '@backfill/engine/cli';
import { buildEventIdIndex } from '@backfill/engine/migrate';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { printResult } from '../output.js';
import { addLockFlags, lockFlagsSchema, toLockPolicy } from './lock-flags.js';

const IndexOptions = lockFlagsSchema.extend({ json: z.boolean().default(false) });

export function registerIndexBuild(program: Command): void {
  const cmd = program
    .command('index')
    .description(
      'Build ix_run_logs_event_id with CREATE INDEX CONCURRENTLY (after `migrate --index=defer`). ' +
        'An INVALID index left by a failed build is dropped concurrently and rebuilt. Safe to re-run.',
    )
    .option('--json', 'print the result as one JSON object');
  addLockFlags(cmd).action(async (raw) => {
    const o = parseOptions(IndexOptions, raw);
    const { env, logger } = createContext();
    const started = Date.now();
    const action = await buildEventIdIndex({ databaseUrl: env.DATABASE_URL, logger, ...toLockPolicy(o) });
    const seconds = (Date.now() - started) / 1000;
    printResult(o.json, { index: action, seconds }, () => [
      `index ix_run_logs_event_id: ${action} (${seconds.toFixed(2)}s)`,
    ]);
  });
}
