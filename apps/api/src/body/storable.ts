// What JSON.parse hides about a request body: the digits a number was written with, and whether a
// string's escapes make a U+0000 or a lone surrogate. One pass over the body text (already known to be
// valid JSON), finding the first value PostgreSQL cannot store as written, with its path. Pure.
//
// Why the digits matter: the API stores JSON.stringify of the parsed value (so the event_id, computed
// from that value, is the one the backfill computes from the stored row; see prepareRunLogInsert in
// @backfill/shared/event-id). A number is a double once parsed, and an integer such as
// 12345678901234567890 would be stored as 12345678901234567000 without a word. It is refused instead,
// with the path, so the client can send it as a string.

import { MAX_DEPTH } from '@backfill/shared/event-id';
import { type NumberProblem, numberProblem } from './decimal.js';

export interface StorableProblem {
  /** Path into the body, e.g. `events[2].data.n` or `data["odd key"][0]`. */
  field: string;
  reason: string;
}

const REASONS: Record<NumberProblem, (literal: string) => string> = {
  overflow: (l) => `number ${preview(l)} is beyond the range of a JSON number (an IEEE-754 double)`,
  underflow: (l) => `number ${preview(l)} is too small for a JSON number (an IEEE-754 double): it would be 0`,
  'inexact-integer': (l) =>
    `integer ${preview(l)} would be stored as ${preview(JSON.stringify(Number(l)))} (a JSON number is an ` +
    'IEEE-754 double: integers up to 2^53 are exact); send it as a string',
};

const preview = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);

// Fast path: a body without any of these cannot hold a problem this pass looks for. A number literal
// that is not exact has 16 or more digits or a three-digit exponent; U+0000 and surrogates (paired or
// not) can only be written as \u escapes (the body was decoded as strict UTF-8, which cannot encode a
// lone surrogate); nesting deeper than MAX_DEPTH needs more than MAX_DEPTH brackets.
const MAYBE_NUMBER = /\d{16}|[eE][+-]?\d{3}/;
const MAYBE_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING_RUN = /[^"\\]*/y;

const NUL = '\u0000';

interface Frame {
  array: boolean;
  /** Array: the index of the current element. Object: where the current key's literal starts, or -1. */
  at: number;
  keyEnd: number;
}

/** True if `s` has a lone surrogate. */
function hasLoneSurrogate(s: string): boolean {
  return !(s as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * The first value of `text` (valid JSON) that would not be stored as written, or null. Nesting deeper
 * than `maxDepth` (MAX_DEPTH plus the body's own levels) is refused as well: it could never get an id.
 */
export function storableProblem(text: string, maxDepth = MAX_DEPTH + 3): StorableProblem | null {
  if (!MAYBE_NUMBER.test(text) && !MAYBE_ESCAPE.test(text) && !mayBeDeep(text, maxDepth)) return null;
  return scan(text, maxDepth);
}

function mayBeDeep(text: string, maxDepth: number): boolean {
  if (text.length <= maxDepth * 2) return false;
  let open = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++open > maxDepth) return true;
    }
  }
  return false;
}

function scan(text: string, maxDepth: number): StorableProblem | null {
  const stack: Frame[] = [];
  const path = () => pathOf(text, stack);
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x7b: // {
      case 0x5b: // [
        if (stack.length >= maxDepth) {
          return { field: path(), reason: `nested deeper than ${MAX_DEPTH} levels` };
        }
        stack.push({ array: c === 0x5b, at: c === 0x5b ? 0 : -1, keyEnd: -1 });
        i++;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        i++;
        break;
      case 0x2c: {
        // ,
        const top = stack[stack.length - 1]!;
        if (top.array) top.at++;
        else top.at = -1;
        i++;
        break;
      }
      case 0x22: {
        // "
        const start = i;
        let escaped = false;
        i++;
        for (;;) {
          STRING_RUN.lastIndex = i;
          STRING_RUN.test(text);
          i = STRING_RUN.lastIndex;
          if (text.charCodeAt(i) === 0x22) break;
          escaped = true; // a backslash: skip it and the character it escapes
          i += 2;
        }
        i++; // the closing quote
        const top = stack[stack.length - 1];
        const isKey = top !== undefined && !top.array && top.at === -1;
        if (isKey) {
          top.at = start;
          top.keyEnd = i;
        }
        if (escaped) {
          const value = JSON.parse(text.slice(start, i)) as string;
          const what = isKey ? 'object key' : 'string';
          if (value.includes(NUL)) {
            return { field: path(), reason: `${what} has U+0000, which PostgreSQL cannot store` };
          }
          if (hasLoneSurrogate(value)) {
            return { field: path(), reason: `${what} has a lone surrogate (not valid Unicode)` };
          }
        }
        break;
      }
      case 0x2d: // -
      case 0x30:
      case 0x31:
      case 0x32:
      case 0x33:
      case 0x34:
      case 0x35:
      case 0x36:
      case 0x37:
      case 0x38:
      case 0x39: {
        NUMBER.lastIndex = i;
        NUMBER.test(text);
        const end = NUMBER.lastIndex;
        // Up to 15 digits and no exponent: always exactly the double JSON.parse makes (DBL_DIG is 15).
        if (end - i > 15 || /[eE]/.test(text.slice(i, end))) {
          const literal = text.slice(i, end);
          const problem = numberProblem(literal);
          if (problem) return { field: path(), reason: REASONS[problem](literal) };
        }
        i = end;
        break;
      }
      default:
        i++; // whitespace, ':', and the letters of true, false, null
    }
  }
  return null;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The path of the value being scanned, in event-id's notation: `events[2].data.a["odd key"]`. */
function pathOf(text: string, stack: Frame[]): string {
  let p = '';
  for (const f of stack) {
    if (f.array) p += `[${f.at}]`;
    else if (f.at >= 0) {
      const key = JSON.parse(text.slice(f.at, f.keyEnd)) as string;
      if (IDENTIFIER.test(key)) p += p === '' ? key : `.${key}`;
      else p += `[${JSON.stringify(key)}]`;
    }
  }
  return p === '' ? 'body' : p;
}
