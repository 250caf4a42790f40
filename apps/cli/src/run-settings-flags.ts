// The run settings as command-line flags, derived from the settings schema: `start` and `run` register
// them with the schema's defaults, `set` without (only the flags given change). One parser turns
// commander's strings into settings, so every front reads a flag the same way and errors name the flag.
import { byteSize, choice, durationIn, intIn, onOff, parseOptions } from '@backfill/engine/cli';
import { UsageError } from '@backfill/engine/errors';
import {
  checkRunSettings,
  formatDuration,
  LIMITS,
  RUN_SETTINGS_DEFAULTS as R,
  type RunSettings,
} from '@backfill/shared/settings';
import type { Command } from 'commander';
import { z } from 'zod';

interface SettingFlag {
  /** commander's syntax, e.g. "--batch-size <n>". */
  flags: string;
  key: keyof RunSettings;
  /** The commander option name (camelCase of the flag). */
  option: string;
  description: string;
  /** The default as typed, for --help. */
  shown: string;
  parse: z.ZodType<unknown>;
  /** Not for `run` (one process, no queue): attempts and backoff are per-shard job settings. */
  distributedOnly?: boolean;
}

const size = (bytes: number) => (bytes === 0 ? '0' : `${Math.round(bytes / 1024 ** 2)}MB`);
/** "off" (or "none", "") clears a text setting. */
const textOrOff = (max: number) =>
  z
    .string()
    .max(max)
    .transform((s) => (/^(off|none|)$/i.test(s.trim()) ? null : s));

export const RUN_SETTING_FLAGS: readonly SettingFlag[] = [
  {
    flags: '--batch-size <n>',
    key: 'batchSize',
    option: 'batchSize',
    description: 'rows per batch (one UPDATE); with --target-batch-ms above 0, the size to start from',
    shown: String(R.batchSize),
    parse: intIn(LIMITS.batchSize),
  },
  {
    flags: '--target-batch-ms <duration>',
    key: 'targetBatchMs',
    option: 'targetBatchMs',
    description: 'adaptive batch size: aim each batch write at this long (0 = keep --batch-size fixed)',
    shown: formatDuration(R.targetBatchMs),
    parse: durationIn(LIMITS.targetBatchMs),
  },
  {
    flags: '--min-batch <n>',
    key: 'minBatchSize',
    option: 'minBatch',
    description: 'smallest batch adaptive sizing (or a timeout) may shrink to',
    shown: String(R.minBatchSize),
    parse: intIn(LIMITS.batchSize),
  },
  {
    flags: '--max-batch <n>',
    key: 'maxBatchSize',
    option: 'maxBatch',
    description: 'largest batch adaptive sizing may grow to',
    shown: String(R.maxBatchSize),
    parse: intIn(LIMITS.batchSize),
  },
  {
    flags: '--max-rows-per-second <n>',
    key: 'maxRowsPerSecond',
    option: 'maxRowsPerSecond',
    description: 'throttle (shared by ALL workers of a run); 0 = unlimited',
    shown: String(R.maxRowsPerSecond),
    parse: intIn(LIMITS.maxRowsPerSecond),
  },
  {
    flags: '--statement-timeout <duration>',
    key: 'statementTimeoutMs',
    option: 'statementTimeout',
    description: 'statement_timeout per statement',
    shown: formatDuration(R.statementTimeoutMs),
    parse: durationIn(LIMITS.statementTimeoutMs),
  },
  {
    flags: '--lock-timeout <duration>',
    key: 'lockTimeoutMs',
    option: 'lockTimeout',
    description: 'lock_timeout per statement (the backfill loses lock fights, the application wins)',
    shown: formatDuration(R.lockTimeoutMs),
    parse: durationIn(LIMITS.lockTimeoutMs),
  },
  {
    flags: '--on-bad-row <mode>',
    key: 'onBadRow',
    option: 'onBadRow',
    description:
      'fail: stop at a row whose id cannot be computed; skip: record it in backfill_errors and go on',
    shown: R.onBadRow,
    parse: choice(['fail', 'skip']),
  },
  {
    flags: '--attempts <n>',
    key: 'attempts',
    option: 'attempts',
    description: 'tries per shard before it is failed',
    shown: String(R.attempts),
    parse: intIn(LIMITS.attempts),
    distributedOnly: true,
  },
  {
    flags: '--backoff <duration>',
    key: 'backoffMs',
    option: 'backoff',
    description: 'first retry delay of a shard (exponential, with jitter)',
    shown: formatDuration(R.backoffMs),
    parse: durationIn(LIMITS.backoffMs),
    distributedOnly: true,
  },
  {
    flags: '--parallelism <n>',
    key: 'parallelism',
    option: 'parallelism',
    description:
      'shards processed at once by the whole fleet, however many workers run: the load on the database (0 = no limit)',
    shown: String(R.parallelism),
    parse: intIn(LIMITS.parallelism),
    distributedOnly: true,
  },
  {
    flags: '--gate-replication-lag <duration>',
    key: 'gateReplicationLagMs',
    option: 'gateReplicationLag',
    description: 'hold while any standby replays further behind than this (0 = off)',
    shown: formatDuration(R.gateReplicationLagMs),
    parse: durationIn(LIMITS.gateReplicationLagMs),
  },
  {
    flags: '--gate-lock-wait <duration>',
    key: 'gateLockWaitMs',
    option: 'gateLockWait',
    description: 'hold while a session has waited longer than this for a lock the backfill holds (0 = off)',
    shown: formatDuration(R.gateLockWaitMs),
    parse: durationIn(LIMITS.gateLockWaitMs),
  },
  {
    flags: '--gate-transaction-age <duration>',
    key: 'gateTransactionAgeMs',
    option: 'gateTransactionAge',
    description: 'hold while a transaction has been open longer than this (0 = off)',
    shown: formatDuration(R.gateTransactionAgeMs),
    parse: durationIn(LIMITS.gateTransactionAgeMs),
  },
  {
    flags: '--gate-autovacuum <on|off>',
    key: 'gateAutovacuum',
    option: 'gateAutovacuum',
    description: 'hold while autovacuum works on the table (an anti-wraparound one always holds)',
    shown: R.gateAutovacuum ? 'on' : 'off',
    parse: onOff,
  },
  {
    flags: '--gate-wal-rate <bytes-per-second>',
    key: 'gateWalBytesPerSecond',
    option: 'gateWalRate',
    description: "hold while the database writes WAL faster than this, e.g. 50MB (everyone's WAL; 0 = off)",
    shown: size(R.gateWalBytesPerSecond),
    parse: byteSize.pipe(
      z.number().max(LIMITS.gateWalBytesPerSecond.max, { message: 'must be at most 100GB' }),
    ),
  },
  {
    flags: '--gate-sql <sql>',
    key: 'gateSql',
    option: 'gateSql',
    description:
      'your own probe: SELECT <hold boolean> AS hold, <text> AS reason; read-only, 2 s at most (off = none)',
    shown: 'off',
    parse: textOrOff(10_000),
  },
  {
    flags: '--window <HH:MM-HH:MM>',
    key: 'window',
    option: 'window',
    description:
      'work only inside this daily window (local time of --timezone; may cross midnight; off = always)',
    shown: 'off',
    parse: textOrOff(11),
  },
  {
    flags: '--timezone <zone>',
    key: 'timezone',
    option: 'timezone',
    description: 'the time zone of --window, e.g. Europe/Berlin',
    shown: R.timezone,
    parse: z.string(),
  },
];

/** Registers the run-setting flags; with `withDefaults`, the schema's defaults (start, run). */
export function addRunSettingFlags(
  cmd: Command,
  o: { withDefaults: boolean; distributed: boolean },
): Command {
  for (const f of RUN_SETTING_FLAGS) {
    if (f.distributedOnly && !o.distributed) continue;
    if (o.withDefaults) cmd.option(f.flags, f.description, f.shown);
    else cmd.option(f.flags, f.description);
  }
  return cmd;
}

/** The settings the given flags name (defaults included when they were registered with them). */
export function parseRunSettingFlags(raw: Record<string, unknown>): Partial<RunSettings> {
  const shape: Record<string, z.ZodType<unknown>> = {};
  for (const f of RUN_SETTING_FLAGS) shape[f.option] = f.parse.optional();
  const parsed = parseOptions(
    z.object(shape),
    pick(
      raw,
      RUN_SETTING_FLAGS.map((f) => f.option),
    ),
  );
  const out: Record<string, unknown> = {};
  for (const f of RUN_SETTING_FLAGS) {
    const v = parsed[f.option];
    if (v !== undefined) out[f.key] = v;
  }
  return out as Partial<RunSettings>;
}

/**
 * `base` with the flags given applied, checked as a whole (bounds, and settings that must agree, such
 * as --min-batch ≤ --max-batch); a UsageError names the flag.
 */
export function runSettingsFromFlags(
  raw: Record<string, unknown>,
  base: Partial<RunSettings> = {},
): RunSettings {
  const r = checkRunSettings({ ...base, ...parseRunSettingFlags(raw) });
  if (r.ok) return r.settings;
  const flag = RUN_SETTING_FLAGS.find((f) => f.key === r.key)?.flags.split(' ')[0] ?? r.key;
  throw new UsageError(`${flag}: ${r.message}`);
}

function pick(raw: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (raw[k] !== undefined) out[k] = raw[k];
  return out;
}
