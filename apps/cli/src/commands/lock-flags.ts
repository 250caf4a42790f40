// Lock-timeout flags shared by migrate, migrate --down and index.

import { durationIn, intIn } from '@backfill/engine/cli';
import { DEFAULT_LOCK_POLICY as L } from '@backfill/engine/migrate';
import { formatDuration, LIMITS } from '@backfill/shared/settings';
import type { Command } from 'commander';
import { z } from 'zod';

export function addLockFlags(cmd: Command): Command {
  return cmd
    .option(
      '--lock-timeout <duration>',
      'lock_timeout for each ALTER TABLE try (e.g. 500ms, 3s)',
      formatDuration(L.lockTimeoutMs),
    )
    .option(
      '--index-lock-timeout <duration>',
      'lock_timeout for each CREATE/DROP INDEX CONCURRENTLY try',
      formatDuration(L.indexLockTimeoutMs),
    )
    .option(
      '--lock-retries <n>',
      'tries per step before giving up (backoff doubles, with jitter)',
      String(L.attempts),
    );
}

export const lockFlagsSchema = z.object({
  lockTimeout: durationIn(LIMITS.migrateLockTimeoutMs),
  indexLockTimeout: durationIn(LIMITS.indexLockTimeoutMs),
  lockRetries: intIn(LIMITS.lockRetries),
});

export const toLockPolicy = (o: z.infer<typeof lockFlagsSchema>) => ({
  lockTimeoutMs: o.lockTimeout,
  indexLockTimeoutMs: o.indexLockTimeout,
  attempts: o.lockRetries,
});
