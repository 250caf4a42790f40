// RFC 8785 (JCS) serialization of a JSON value, strict: anything `JSON.parse` could not have produced is
// rejected with an EventIdError whose field is the path to the offending value (`data.a.b[2]`).
//
// Single pass, no intermediate copies: object keys are sorted by UTF-16 code units (the default
// Array#sort order, which is what RFC 8785 §3.2.3 specifies), numbers use ECMAScript Number::toString
// (RFC 8785 §3.2.2.3; -0 prints as 0), strings are escaped exactly as JSON.stringify escapes a
// well-formed string (RFC 8785 §3.2.2.2), and there is no whitespace.

import { describeType, EventIdError } from './errors.js';

/** Containers (objects and arrays) may be nested at most this deep; deeper is an error (and so is a cycle). */
export const MAX_DEPTH = 1000;

// A string needs JSON.stringify's escaping only if it holds `"`, `\` or a control character (U+0000–U+001F).
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
// With the `u` flag a surrogate class only matches an unpaired (lone) surrogate.
const LONE_SURROGATE = /[\ud800-\udfff]/u;

type WellFormedString = string & { isWellFormed?: () => boolean };
const hasIsWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';

/** True if `s` has no lone (unpaired) UTF-16 surrogate, i.e. it is valid Unicode (RFC 8785 §3.2.2.2). */
export const isWellFormed: (s: string) => boolean = hasIsWellFormed
  ? (s) => (s as WellFormedString).isWellFormed!()
  : (s) => !LONE_SURROGATE.test(s);

/** Where the first lone surrogate of `s` is, for error messages. */
export function loneSurrogateReason(s: string): string {
  const at = s.search(LONE_SURROGATE);
  const code = s.charCodeAt(at).toString(16).toUpperCase();
  return `lone surrogate U+${code} at index ${at} (RFC 8785 requires well-formed Unicode)`;
}

/** A string as a JSON string literal (caller has checked it is well formed). */
export function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

// The walk records the key/index of each level in a scratch stack (one store per value), so an error can
// name its path; on the error path only, the chain of containers is re-walked from the root to tell a cycle
// from mere depth and a hole from an undefined element. The serializer is synchronous and not re-entrant,
// so module-level scratch is safe.
let rootField = 'data';
let root: unknown;
const pathKeys: (string | number)[] = [];

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function pathAt(depth: number): string {
  let p = rootField;
  for (let d = 1; d <= depth; d++) {
    const k = pathKeys[d]!;
    if (typeof k === 'number') p += `[${k}]`;
    else if (IDENTIFIER.test(k)) p += `.${k}`;
    else p += `[${JSON.stringify(k)}]`;
  }
  return p;
}

/** The container at `depth` on the current path (error path only). */
function containerAt(depth: number): unknown {
  let v = root;
  for (let d = 1; d <= depth; d++) v = (v as Record<string | number, unknown>)[pathKeys[d]!];
  return v;
}

function fail(depth: number, reason: string): never {
  throw new EventIdError(pathAt(depth), reason);
}

function tooDeep(depth: number): never {
  // Either a cycle or honest (absurd) nesting: find the first container that is its own ancestor.
  const seen = new Map<unknown, number>();
  for (let d = 0; d < depth; d++) {
    const o = containerAt(d);
    const first = seen.get(o);
    if (first !== undefined) fail(d, `cyclic reference (the same object as ${pathAt(first)})`);
    seen.set(o, d);
  }
  return fail(depth, `nested deeper than ${MAX_DEPTH} levels`);
}

// Rows of one table repeat the same few keys, so validated, quoted keys (`"key":`) are cached.
const KEY_CACHE_LIMIT = 4096;
const keyCache = new Map<string, string>();

function quoteKey(k: string, depth: number): string {
  let q = keyCache.get(k);
  if (q === undefined) {
    if (!isWellFormed(k)) fail(depth, `object key has a ${loneSurrogateReason(k)}`);
    q = (NEEDS_ESCAPE.test(k) ? JSON.stringify(k) : '"' + k + '"') + ':';
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(k, q);
  }
  return q;
}

/**
 * Sorts keys by UTF-16 code units, in place. `<`/`>` on strings compare code units, exactly like the default
 * Array#sort comparison; insertion sort beats the generic sort for the few keys a typical object has.
 */
function sortKeys(keys: string[]): void {
  const n = keys.length;
  if (n > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
}

function serializeString(s: string, depth: number): string {
  if (!isWellFormed(s)) fail(depth, loneSurrogateReason(s));
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

function serializeArray(a: unknown[], depth: number): string {
  if (Object.getPrototypeOf(a) !== Array.prototype) fail(depth, `not a plain array (${describeType(a)})`);
  if (depth >= MAX_DEPTH) tooDeep(depth);
  const n = a.length;
  if (n === 0) return '[]';
  const child = depth + 1;
  pathKeys[child] = 0;
  let out = '[' + serializeValue(a[0], child);
  for (let i = 1; i < n; i++) {
    pathKeys[child] = i;
    out += ',' + serializeValue(a[i], child);
  }
  return out + ']';
}

function serializeObject(o: object, depth: number): string {
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto !== Object.prototype && proto !== null) {
    fail(depth, `not a plain object (${describeType(o)})`);
  }
  if (depth >= MAX_DEPTH) tooDeep(depth);
  const keys = Object.keys(o);
  const n = keys.length;
  if (n === 0) return '{}';
  if (n > 1) sortKeys(keys);
  const child = depth + 1;
  const rec = o as Record<string, unknown>;
  let k = keys[0]!;
  pathKeys[child] = k;
  let out = '{' + quoteKey(k, child) + serializeValue(rec[k], child);
  for (let i = 1; i < n; i++) {
    k = keys[i]!;
    pathKeys[child] = k;
    out += ',' + quoteKey(k, child) + serializeValue(rec[k], child);
  }
  return out + '}';
}

function serializeValue(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return serializeString(v, depth);
    case 'number':
      // Number::toString is RFC 8785's number format; String(-0) is "0".
      if (Number.isFinite(v)) return '' + v;
      return fail(depth, `not a finite number (${v})`);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      if (v === null) return 'null';
      return Array.isArray(v) ? serializeArray(v, depth) : serializeObject(v, depth);
    case 'undefined': {
      const parent = depth > 0 ? containerAt(depth - 1) : undefined;
      const key = pathKeys[depth];
      if (Array.isArray(parent) && typeof key === 'number' && !(key in parent)) {
        return fail(depth, 'array hole (undefined is not a JSON value)');
      }
      return fail(depth, 'undefined is not a JSON value');
    }
    case 'bigint':
      return fail(depth, `bigint is not a JSON value (${v}n); pass a number or a string`);
    case 'function':
      return fail(depth, 'a function is not a JSON value');
    case 'symbol':
      return fail(depth, 'a symbol is not a JSON value');
    default:
      return fail(depth, `${typeof v} is not a JSON value`);
  }
}

/**
 * The RFC 8785 canonical JSON text of `value`, which must be a value `JSON.parse` could return.
 * Throws EventIdError; its field is `field` (default `data`) or a path below it.
 */
export function canonicalJson(value: unknown, field = 'data'): string {
  rootField = field;
  root = value;
  try {
    return serializeValue(value, 0);
  } finally {
    root = undefined; // do not keep the caller's data alive
  }
}
