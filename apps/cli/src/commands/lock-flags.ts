// Lock-timeout flags shared by migrate, migrate --down and index.
import type { Command } from 'commander';
import { z } from 'zod';
import { duration, int } from '../options.js';

export function addLockFlags(cmd: Command): Command {
  return cmd
    .option('--lock-timeout <duration>', 'lock_timeout for each ALTER TABLE try (e.g. 500ms, 3s)', '3s')
    .option(
      '--index-lock-timeout <duration>',
      'lock_timeout for each CREATE/DROP INDEX CONCURRENTLY try',
      '1m',
    )
    .option('--lock-retries <n>', 'tries per step before giving up (backoff doubles, with jitter)', '10');
}

export const lockFlagsSchema = z.object({
  lockTimeout: duration.pipe(z.number().min(1, { message: 'must be more than 0' })),
  indexLockTimeout: duration.pipe(z.number().min(1, { message: 'must be more than 0' })),
  lockRetries: int(1, 1000),
});

export const toLockPolicy = (o: z.infer<typeof lockFlagsSchema>) => ({
  lockTimeoutMs: o.lockTimeout,
  indexLockTimeoutMs: o.indexLockTimeout,
  attempts: o.lockRetries,
});
