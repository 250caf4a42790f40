// Every default shown in `--help` comes from the one settings schema: change a default there and the
// help (and the behaviour) follow, with no second copy to forget.
import { DEFAULT_LOCK_POLICY } from '@backfill/engine/migrate';
import {
  formatDuration,
  PLAN_DEFAULTS,
  RUN_SETTINGS_DEFAULTS as R,
  SINGLE_PROCESS_WRITERS,
  WORKER_SETTINGS_DEFAULTS as W,
} from '@backfill/shared/settings';
import { describe, expect, it } from 'vitest';
import { collect, runCli, spawnWorker } from '../../../test-support/cli.js';

/** The "(default: …)" commander prints for a flag, whitespace of wrapped help lines folded. */
function defaultOf(help: string, flag: string): string | undefined {
  const flat = help.replace(/\s+/g, ' ');
  const at = flat.indexOf(`${flag} `);
  if (at < 0) return undefined;
  const m = /\(default: "?([^")]*)"?\)/.exec(flat.slice(at));
  return m?.[1];
}

async function help(args: string[]): Promise<string> {
  const res = await runCli([...args, '--help']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout;
}

describe('--help shows the settings schema defaults', () => {
  it('start', async () => {
    const h = await help(['start']);
    expect(defaultOf(h, '--shard-rows')).toBe(String(PLAN_DEFAULTS.shardRows));
    expect(defaultOf(h, '--order')).toBe(PLAN_DEFAULTS.order);
    expect(defaultOf(h, '--planner')).toBe(PLAN_DEFAULTS.planner);
    expect(defaultOf(h, '--batch-size')).toBe(String(R.batchSize));
    expect(defaultOf(h, '--max-rows-per-second')).toBe(String(R.maxRowsPerSecond));
    expect(defaultOf(h, '--statement-timeout')).toBe(formatDuration(R.statementTimeoutMs));
    expect(defaultOf(h, '--lock-timeout')).toBe(formatDuration(R.lockTimeoutMs));
    expect(defaultOf(h, '--on-bad-row')).toBe(R.onBadRow);
    expect(defaultOf(h, '--attempts')).toBe(String(R.attempts));
    expect(defaultOf(h, '--backoff')).toBe(formatDuration(R.backoffMs));
  });

  it('run', async () => {
    const h = await help(['run']);
    expect(defaultOf(h, '--batch-size')).toBe(String(R.batchSize));
    expect(defaultOf(h, '--max-rows-per-second')).toBe(String(R.maxRowsPerSecond));
    expect(defaultOf(h, '--statement-timeout')).toBe(formatDuration(R.statementTimeoutMs));
    expect(defaultOf(h, '--lock-timeout')).toBe(formatDuration(R.lockTimeoutMs));
    expect(defaultOf(h, '--on-bad-row')).toBe(R.onBadRow);
    expect(defaultOf(h, '--writers')).toBe(String(SINGLE_PROCESS_WRITERS));
  });

  it('migrate', async () => {
    const h = await help(['migrate']);
    expect(defaultOf(h, '--lock-timeout')).toBe(formatDuration(DEFAULT_LOCK_POLICY.lockTimeoutMs));
    expect(defaultOf(h, '--index-lock-timeout')).toBe(formatDuration(DEFAULT_LOCK_POLICY.indexLockTimeoutMs));
    expect(defaultOf(h, '--lock-retries')).toBe(String(DEFAULT_LOCK_POLICY.attempts));
  });

  const workerDefaults = (h: string) => {
    expect(defaultOf(h, '--concurrency')).toBe(String(W.concurrency));
    expect(defaultOf(h, '--writers')).toBe(String(W.writers));
    expect(defaultOf(h, '--shutdown-timeout')).toBe(formatDuration(W.shutdownTimeoutMs));
    expect(defaultOf(h, '--lock-duration')).toBe(formatDuration(W.lockDurationMs));
    expect(defaultOf(h, '--stalled-interval')).toBe(formatDuration(W.stalledIntervalMs));
    expect(defaultOf(h, '--poll-interval')).toBe(formatDuration(W.pollIntervalMs));
  };

  it('backfill worker (the alias) and the worker app show the same flags and defaults', async () => {
    const alias = await help(['worker']);
    workerDefaults(alias);
    const app = await collect(spawnWorker(['--help']));
    expect(app.code, app.stderr).toBe(0);
    workerDefaults(app.stdout);
  });
});
