// Command-line flag values are parsed with zod into typed objects, at the edge of every program; an
// error names the flag and what it accepts.

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

/** A duration: "500ms", "3s", "2m" or a plain number of milliseconds. Returns milliseconds. */
export const duration = z
  .string()
  .regex(/^\d+(ms|s|m)?$/, { message: 'must be a duration such as 500ms, 3s or 2m' })
  .transform((s) => {
    const n = Number.parseInt(s, 10);
    if (s.endsWith('ms')) return n;
    if (s.endsWith('s')) return n * 1000;
    if (s.endsWith('m')) return n * 60_000;
    return n;
  });

export const choice = <T extends string>(values: readonly [T, ...T[]]) =>
  z.enum(values, { message: `must be one of: ${values.join(', ')}` });
