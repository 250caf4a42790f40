// RFC 8785 (JCS) bytes of a JSON *text*, without building the value: what `appendJsonText` writes is
// the UTF-8 of `canonicalJson(JSON.parse(text))` whenever it succeeds. It exists for the
// backfill, which reads jsonb as text (`data::text`): parsing that text into objects only to print them
// again, then encoding the printed rope as UTF-8 for the hash, cost about a third of a worker's CPU.
// Here the text's UTF-8 (encoded once by appendJsonText, or as PostgreSQL sent it to appendJsonUtf8)
// is copied into the output: strings as they are, numbers re-printed only when their text is not
// already ECMAScript's, objects' members re-ordered.
//
// It only takes the forms it can copy exactly, and reports anything else as "not fast" (the caller
// parses the text and uses canonicalJson, which also names any error):
// - strings whose escapes are already JSON.stringify's (`\"`, `\\`, `\b\t\n\f\r`, `\u00xx` for other
//   controls, lowercase hex): PostgreSQL's jsonb output writes exactly those; `\/`, `\u00e9` or an
//   uppercase `\u001F` are not copied; no raw control character, and no U+FFFD (which is also what a
//   lone surrogate becomes in UTF-8, so a text that has one is never copied);
// - keys without escapes and without a byte ≥ 0xEE (UTF-8 orders U+E000–U+FFFF before supplementary
//   characters, UTF-16 after them; below that both orders agree), no key twice in an object;
// - only spaces between tokens (all jsonb's output has), nesting at most FAST_DEPTH deep;
// - numbers: an integer of at most 15 digits, or a decimal of at most 15 significant digits without
//   trailing zeros and not below 1e-6, is already its own shortest round-trip form (a decimal of 15 or
//   fewer significant digits survives the trip through a double, so no shorter one maps to the same
//   double) and is copied; any other valid number is printed from its double as canonicalJson would;
//   one beyond the double range is not finite, so not fast (the caller reports it).
// Invalid JSON of any kind: not fast.

import { isUtf8 } from 'node:buffer';
import { utf8Write } from './utf8.js';

/** Deeper nesting is left to canonicalJson (which also enforces MAX_DEPTH). */
export const FAST_DEPTH = 64;
/** Longer texts are left to canonicalJson (the scratch buffers stay small). */
export const FAST_MAX_CHARS = 256 * 1024;

const NOT_FAST = new Error('not a fast form'); // thrown to unwind the scan; never escapes this module

// The scan is synchronous and not re-entrant: module-level scratch.
let scratch: Buffer = Buffer.allocUnsafeSlow(16 * 1024); // a string's UTF-8 (appendJsonText)
// The bytes scanned: scratch (with a 0 after the text), or a view of exactly the caller's bytes
// (beyond a typed array's end a read gives undefined): either way no scan reads past the text.
let inp: Uint8Array = scratch;
let end = 0; // bytes of inp in use
let at = 0; // read position in inp
let out: Buffer = Buffer.allocUnsafeSlow(64 * 1024); // the canonical bytes (the caller's prefix first)
let o = 0; // write position in out
// Members of the objects being read, 4 ints each (key start and end in inp, member start and end in
// out), as a stack: an object's members sit above its parent's.
let members = new Int32Array(4 * 256);
let top = 0;
let sawHigh = false; // a string or key of the scan had a byte ≥ 0x80
let order = new Int32Array(256); // members' indices in key order (reorder)

// The output is built in steps: beginCanonical(prefix), then the append* calls, then
// canonicalView() (valid until the next beginCanonical).

/** Starts a new output with `prefix`'s bytes (e.g. the hash's namespace and the text before data). */
export function beginCanonical(prefix: Uint8Array): void {
  o = 0;
  ensureOut(prefix.length + 64);
  out.set(prefix, 0);
  o = prefix.length;
}

/** Appends the UTF-8 of a string as it is (the caller has made it canonical). */
export function appendText(s: string): void {
  ensureOut(o + s.length * 3);
  o += utf8Write(out, s, o);
}

/** The output so far. */
export function canonicalView(): Uint8Array {
  return new Uint8Array(out.buffer, out.byteOffset, o);
}

/**
 * Appends the RFC 8785 UTF-8 of `JSON.parse(text)` when `text` has a fast form (above) and returns
 * true; returns false for any other text (the output is then to be begun again).
 */
export function appendJsonText(text: string): boolean {
  if (text.length > FAST_MAX_CHARS) return false;
  const bytes = text.length * 3 + 1;
  if (bytes > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(bytes, scratch.length * 2));
  const n = utf8Write(scratch, text, 0);
  scratch[n] = 0; // a byte no token has: every scan stops there
  inp = scratch;
  return scanInput(n);
}

/**
 * Like appendJsonText, for a JSON text given as valid UTF-8 (`src[start, stop)`), as PostgreSQL
 * sends jsonb's text: the same output for the same text, without decoding it first.
 */
export function appendJsonUtf8(src: Uint8Array, start: number, stop: number): boolean {
  const n = stop - start;
  if (n > FAST_MAX_CHARS) return false;
  inp = new Uint8Array(src.buffer, src.byteOffset + start, n);
  const ok = scanInput(n) && (!sawHigh || isUtf8(inp));
  inp = scratch; // do not keep the caller's bytes alive
  // Invalid UTF-8 would read as U+FFFD once decoded: not copied.
  return ok;
}

/** Scans inp[0, n) into the output. */
function scanInput(n: number): boolean {
  end = n;
  ensureOut(o + end + 64);
  at = 0;
  top = 0;
  sawHigh = false;
  try {
    value(0);
    skipSpaces();
    return at === end;
  } catch (err) {
    if (err === NOT_FAST) return false;
    throw err;
  }
}

/** Appends bytes as they are (ASCII the caller has made canonical). */
export function appendBytes(bytes: Uint8Array): void {
  ensureOut(o + bytes.length);
  out.set(bytes, o);
  o += bytes.length;
}

// JSON.stringify's escape of each control character (the rest of a well-formed string is kept as is).
const CONTROL_ESCAPES: Uint8Array[] = Array.from({ length: 0x20 }, (_, c) =>
  Buffer.from(JSON.stringify(String.fromCharCode(c)).slice(1, -1), 'latin1'),
);

/**
 * Appends the JSON string literal of the text whose UTF-8 is `src[start, stop)`: the UTF-8 of
 * JSON.stringify(text), which escapes `"`, `\\` and control characters and keeps every other byte.
 * Returns false (the output is then to be begun again) if the bytes are not valid UTF-8.
 */
export function appendQuotedUtf8(src: Uint8Array, start: number, stop: number): boolean {
  ensureOut(o + (stop - start) * 6 + 2);
  const dst = out;
  let p = o;
  dst[p++] = 0x22;
  let high = false;
  for (let i = start; i < stop; i++) {
    const b = src[i]!;
    if (b >= 0x80) {
      high = true;
      dst[p++] = b;
    } else if (b >= 0x20 && b !== 0x22 && b !== 0x5c) dst[p++] = b;
    else if (b === 0x22 || b === 0x5c) {
      dst[p++] = 0x5c;
      dst[p++] = b;
    } else {
      const e = CONTROL_ESCAPES[b]!;
      for (let k = 0; k < e.length; k++) dst[p++] = e[k]!;
    }
  }
  dst[p++] = 0x22;
  o = p;
  return !high || isUtf8(src.subarray(start, stop));
}

/**
 * Appends the UUID whose text is `src[start, stop)` in lowercase, if it is a hyphenated 8-4-4-4-12 hex
 * UUID in any letter case (event-id's run_id rule); returns false for anything else.
 */
export function appendUuidText(src: Uint8Array, start: number, stop: number): boolean {
  if (stop - start !== 36) return false;
  ensureOut(o + 36);
  const dst = out;
  let p = o;
  for (let i = 0; i < 36; i++) {
    const b = src[start + i]!;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (b !== 0x2d) return false;
      dst[p++] = b;
    } else if ((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66)) dst[p++] = b;
    else if (b >= 0x41 && b <= 0x46) dst[p++] = b + 0x20;
    else return false;
  }
  o = p;
  return true;
}

const NO_PREFIX = new Uint8Array(0);

/** `canonicalJson(JSON.parse(text))` when `text` has a fast form, else undefined (for tests and tools). */
export function canonicalJsonText(text: string): string | undefined {
  beginCanonical(NO_PREFIX);
  return appendJsonText(text) ? out.toString('utf8', 0, o) : undefined;
}

/** Keeps the first `o` bytes of out and makes room for `bytes` in all. */
function ensureOut(bytes: number): void {
  if (bytes <= out.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(bytes, out.length * 2));
  out.copy(bigger, 0, 0, o);
  out = bigger;
}

function skipSpaces(): void {
  // Past the text inp reads 0 or undefined (see inp), so the scan stops at the end.
  if (inp[at] !== 0x20) return;
  let a = at + 1;
  while (inp[a] === 0x20) a++;
  at = a;
}

function value(depth: number): void {
  skipSpaces();
  if (at >= end) throw NOT_FAST;
  const c = inp[at]!;
  if (c === 0x22) copyString();
  else if (c === 0x7b) object(depth);
  else if (c === 0x5b) array(depth);
  else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) numberToken();
  else if (c === 0x74) literal(TRUE);
  else if (c === 0x66) literal(FALSE);
  else if (c === 0x6e) literal(NULL);
  else throw NOT_FAST;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function literal(word: Buffer): void {
  if (at + word.length > end) throw NOT_FAST;
  for (let i = 0; i < word.length; i++) {
    if (inp[at + i] !== word[i]) throw NOT_FAST;
    out[o + i] = word[i]!;
  }
  at += word.length;
  o += word.length;
}

/** Copies the string token at `at` (quotes included); its escapes must already be canonical. */
function copyString(): void {
  const src = inp;
  const dst = out;
  let a = at;
  let p = o;
  dst[p++] = src[a++]!; // "
  while (a < end) {
    const b = src[a]!;
    if (b === 0x22) {
      dst[p++] = b;
      at = a + 1;
      o = p;
      return;
    }
    if (b === 0x5c) {
      at = a;
      o = p;
      copyEscape();
      a = at;
      p = o;
      continue;
    }
    // A raw control character is not JSON; U+FFFD (EF BF BD) may have been a lone surrogate.
    if (b < 0x20) throw NOT_FAST;
    if (b >= 0x80) {
      sawHigh = true;
      if (b === 0xef && src[a + 1] === 0xbf && src[a + 2] === 0xbd) throw NOT_FAST;
    }
    dst[p++] = b;
    a++;
  }
  throw NOT_FAST;
}

/** At a backslash: copies the escape, if JSON.stringify writes it this way. */
function copyEscape(): void {
  const e = inp[at + 1];
  // \" \\ \b \f \n \r \t
  if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
    out[o++] = 0x5c;
    out[o++] = e;
    at += 2;
    return;
  }
  // \u00xx, lowercase, only for a control character that has no short escape
  if (e === 0x75 && inp[at + 2] === 0x30 && inp[at + 3] === 0x30 && at + 5 < end) {
    const hi = inp[at + 4]!;
    const lo = hexDigit(inp[at + 5]!);
    if ((hi === 0x30 || hi === 0x31) && lo >= 0) {
      const code = (hi - 0x30) * 16 + lo;
      if (code !== 0x08 && code !== 0x09 && code !== 0x0a && code !== 0x0c && code !== 0x0d) {
        for (let i = 0; i < 6; i++) out[o++] = inp[at++]!;
        return;
      }
    }
  }
  throw NOT_FAST;
}

/** 0-15 for a lowercase hex digit, -1 otherwise. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function array(depth: number): void {
  if (depth >= FAST_DEPTH) throw NOT_FAST;
  out[o++] = inp[at++]!; // [
  skipSpaces();
  if (inp[at] === 0x5d) {
    out[o++] = inp[at++]!;
    return;
  }
  for (;;) {
    value(depth + 1);
    skipSpaces();
    const c = inp[at++];
    out[o++] = c!;
    if (c === 0x5d) return;
    if (c !== 0x2c) throw NOT_FAST;
  }
}

function object(depth: number): void {
  if (depth >= FAST_DEPTH) throw NOT_FAST;
  const start = o;
  out[o++] = inp[at++]!; // {
  skipSpaces();
  if (inp[at] === 0x7d) {
    out[o++] = inp[at++]!;
    return;
  }
  const base = top;
  let sorted = true;
  for (;;) {
    skipSpaces();
    if (inp[at] !== 0x22) throw NOT_FAST;
    const m = pushMember();
    members[m] = at + 1;
    members[m + 2] = o;
    copyKey();
    members[m + 1] = at - 1;
    skipSpaces();
    if (inp[at++] !== 0x3a) throw NOT_FAST; // :
    out[o++] = 0x3a;
    value(depth + 1);
    members[m + 3] = o;
    if (m > base) {
      const order = compareKeys(m - 4, m);
      if (order === 0) throw NOT_FAST; // a key twice: JSON.parse keeps the last; left to it
      if (order > 0) sorted = false;
    }
    skipSpaces();
    const c = inp[at++];
    if (c === 0x7d) break;
    if (c !== 0x2c) throw NOT_FAST;
    out[o++] = 0x2c;
  }
  if (!sorted) reorder(base, start + 1);
  out[o++] = 0x7d;
  top = base;
}

function pushMember(): number {
  const m = top;
  if (m + 4 > members.length) {
    const bigger = new Int32Array(members.length * 2);
    bigger.set(members);
    members = bigger;
  }
  top += 4;
  return m;
}

/** Copies a key (quotes included): no escape and no byte ≥ 0xEE, so bytes order it as UTF-16 would. */
function copyKey(): void {
  const src = inp;
  const dst = out;
  let a = at;
  let p = o;
  dst[p++] = src[a++]!; // "
  while (a < end) {
    const b = src[a++]!;
    dst[p++] = b;
    if (b === 0x22) {
      at = a;
      o = p;
      return;
    }
    if (b === 0x5c || b < 0x20 || b >= 0xee) throw NOT_FAST;
    if (b >= 0x80) sawHigh = true;
  }
  throw NOT_FAST;
}

/** Compares the keys of members a and b by their bytes (as UTF-16 code units would, given copyKey). */
function compareKeys(a: number, b: number): number {
  const src = inp;
  const list = members;
  let i = list[a]!;
  const iEnd = list[a + 1]!;
  let j = list[b]!;
  const jEnd = list[b + 1]!;
  while (i < iEnd && j < jEnd) {
    const d = src[i++]! - src[j++]!;
    if (d !== 0) return d;
  }
  return iEnd - i - (jEnd - j);
}

/**
 * Writes the members from `base` up in key order, from `from` on (their text is out[from, o)). Members
 * arrive nearly sorted (jsonb orders keys by length, then bytes), so an insertion sort of their indices.
 */
function reorder(base: number, from: number): void {
  const n = (top - base) / 4;
  if (n > order.length) order = new Int32Array(Math.max(n, order.length * 2));
  for (let k = 0; k < n; k++) {
    const m = base + 4 * k;
    let j = k - 1;
    while (j >= 0) {
      const c = compareKeys(order[j]!, m);
      if (c === 0) throw NOT_FAST;
      if (c < 0) break;
      order[j + 1] = order[j]!;
      j--;
    }
    order[j + 1] = m;
  }
  // The members' text is copied once past its end, then each member back in key order (copyWithin:
  // no view allocated, and faster than a byte loop for members of a few dozen bytes).
  const length = o - from;
  ensureOut(o + length);
  const dst = out;
  const list = members;
  dst.copyWithin(o, from, o);
  const shift = length;
  let p = from;
  for (let k = 0; k < n; k++) {
    const m = order[k]!;
    if (k > 0) dst[p++] = 0x2c;
    const s = list[m + 2]! + shift;
    const e = list[m + 3]! + shift;
    dst.copyWithin(p, s, e);
    p += e - s;
  }
  o = p;
}

const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** A number: its text when that is already ECMAScript's shortest form, else printed from its double. */
function numberToken(): void {
  const start = at;
  let i = at;
  if (inp[i] === 0x2d) i++; // -
  const intStart = i;
  while (isDigit(inp[i])) i++;
  const intDigits = i - intStart;
  if (intDigits === 0 || (intDigits > 1 && inp[intStart] === 0x30)) throw NOT_FAST;
  const zeroInt = inp[intStart] === 0x30;
  let fracDigits = 0;
  let leadingFracZeros = 0;
  if (inp[i] === 0x2e) {
    const fracStart = ++i;
    while (inp[i] === 0x30) i++;
    leadingFracZeros = i - fracStart;
    while (isDigit(inp[i])) i++;
    fracDigits = i - fracStart;
    if (fracDigits === 0) throw NOT_FAST;
  }
  let exponent = false;
  const e = inp[i];
  if (e === 0x65 || e === 0x45) {
    exponent = true;
    i++;
    if (inp[i] === 0x2b || inp[i] === 0x2d) i++;
    const expStart = i;
    while (isDigit(inp[i])) i++;
    if (i === expStart) throw NOT_FAST;
  }
  if (i > end) throw NOT_FAST;
  at = i;
  if (!exponent && isShortest(start, i, intStart, intDigits, zeroInt, fracDigits, leadingFracZeros)) {
    const src = inp;
    const dst = out;
    let p = o;
    for (let k = start; k < i; k++) dst[p++] = src[k]!;
    o = p;
    return;
  }
  const n = Number(String.fromCharCode(...inp.subarray(start, i))); // digits, signs, '.', 'e': ASCII
  if (!Number.isFinite(n)) throw NOT_FAST;
  const printed = '' + n; // Number::toString, as canonicalJson prints it (-0 as 0)
  ensureOut(o + printed.length + (end - at) + 64);
  for (let k = 0; k < printed.length; k++) out[o++] = printed.charCodeAt(k);
}

/** Whether a number's text (no exponent) is already what Number::toString prints for its double. */
function isShortest(
  start: number,
  stop: number,
  intStart: number,
  intDigits: number,
  zeroInt: boolean,
  fracDigits: number,
  leadingFracZeros: number,
): boolean {
  // An integer: at most 15 digits, and not -0 (which prints as 0).
  if (fracDigits === 0) return intDigits <= 15 && !(zeroInt && start !== intStart);
  // A decimal: no trailing zero, at most 15 significant digits, not below 1e-6.
  if (inp[stop - 1] === 0x30) return false;
  const significant = zeroInt ? fracDigits - leadingFracZeros : intDigits + fracDigits;
  return significant <= 15 && (!zeroInt || leadingFracZeros <= 5);
}
