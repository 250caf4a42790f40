// Exact decimal comparison of JSON number literals, for telling whether a number a client wrote is the
// number that will be stored. Pure.

/**
 * The exact decimal value of a JSON number literal, normalised: `-` or ``, the significant digits with
 * no leading or trailing zeros, `e`, and the exponent of the last digit. Every spelling of one value has
 * one key (`1.50`, `1.5`, `15e-1` → `15e-1`; `0`, `-0`, `0.0e9` → `0`), as PostgreSQL's numeric compares them.
 */
export function decimalKey(literal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) throw new TypeError(`not a JSON number literal: ${literal}`);
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = int! + frac;
  // Exponents of literals fit in a double easily (a body is at most megabytes long).
  let exponent = Number(exp) - frac.length;
  let start = 0;
  while (start < digits.length && digits.charCodeAt(start) === 48) start++;
  if (start === digits.length) return '0';
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) {
    end--;
    exponent++;
  }
  digits = digits.slice(start, end);
  return `${sign}${digits}e${exponent}`;
}

/** What storing the double `JSON.parse` makes of a literal would do to it. */
export type NumberProblem = 'overflow' | 'underflow' | 'inexact-integer';

const FRACTION_OR_EXPONENT = /[.eE]/;

/**
 * What is wrong with storing the double JSON.parse makes of `literal`, or null:
 * - `overflow`: beyond the double range (JSON.parse gives ±Infinity; event-id refuses it);
 * - `underflow`: a non-zero number that becomes 0;
 * - `inexact-integer`: an integer written without a fraction or exponent (an id, a counter, nanoseconds)
 *   that would be stored as another integer (JSON.stringify of its double), e.g. 2^53 + 1 (stored as
 *   9007199254740992) or 12345678901234567890 (…67000). An integer whose double prints as written, such
 *   as 1e20 or 30023997515803310, is kept: the stored text is the written one.
 * A number written with a fraction or an exponent is a floating-point value and is rounded to the
 * nearest double, as JSON.parse does (SPEC.md: the event_id is that of the double).
 */
export function numberProblem(literal: string): NumberProblem | null {
  const n = Number(literal);
  if (!Number.isFinite(n)) return 'overflow';
  if (n === 0) return decimalKey(literal) === '0' ? null : 'underflow';
  if (FRACTION_OR_EXPONENT.test(literal)) return null;
  if (Number.isSafeInteger(n)) return null;
  return decimalKey(String(n)) === decimalKey(literal) ? null : 'inexact-integer';
}
