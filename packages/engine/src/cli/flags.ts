// Command-line flag values are parsed with zod into typed objects, at the edge of every program; an
// error names the flag and what it accepts.

import { formatDuration } from '@backfill/shared/settings';
import { z } from 'zod';
import { UsageError } from '../errors.js';

const kebab = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path.map(String).join('.');
  throw new UsageError(`${kebab(key)}: ${issue.message}`);
}

/** A whole number from a flag string, within [min, max]. */
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^-?\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );

/** A primary-key id (bigint) as a decimal string. */
export const pkId = z
  .string()
  .regex(/^\d+$/, { message: 'must be a non-negative whole number (a primary-key id)' })
  .refine((s) => /^\d+$/.test(s) && BigInt(s) <= 9223372036854775807n, { message: 'must fit in a bigint' });

/** A duration: "500ms", "3s", "2m", "1h" or a plain number of milliseconds. Returns milliseconds. */
export const duration = z
  .string()
  .regex(/^\d{1,12}(ms|s|m|h)?$/, { message: 'must be a duration such as 500ms, 3s, 2m or 1h' })
  .transform((s) => {
    const n = Number.parseInt(s, 10);
    if (s.endsWith('ms')) return n;
    if (s.endsWith('s')) return n * 1000;
    if (s.endsWith('m')) return n * 60_000;
    if (s.endsWith('h')) return n * 3_600_000;
    return n;
  });

/** A duration within [min, max] milliseconds (the bounds of LIMITS in the settings schema). */
export const durationIn = (l: { min: number; max: number }) =>
  duration.pipe(
    z
      .number()
      .min(l.min, { message: `must be at least ${formatDuration(l.min)}` })
      .max(l.max, { message: `must be at most ${formatDuration(l.max)}` }),
  );

/** A whole number within LIMITS-style bounds. */
export const intIn = (l: { min: number; max: number }) => int(l.min, l.max);

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

/** A byte size: "512KB", "50MB", "1GB" or plain bytes (1024-based). Returns bytes. */
export const byteSize = z
  .string()
  .regex(/^\d{1,12}(B|KB|MB|GB)?$/i, { message: 'must be a size such as 512KB, 50MB or 1GB' })
  .transform((s) => {
    const m = /^(\d+)([a-z]*)$/i.exec(s)!;
    return Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  });

/** on/off (also true/false, yes/no). */
export const onOff = z
  .string()
  .regex(/^(on|off|true|false|yes|no)$/i, { message: 'must be on or off' })
  .transform((s) => /^(on|true|yes)$/i.test(s));

export const choice = <T extends string>(values: readonly [T, ...T[]]) =>
  z.enum(values, { message: `must be one of: ${values.join(', ')}` });
