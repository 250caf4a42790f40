// Building a batch's column parameters as PostgreSQL array literals. This is the insert path's hot loop,
// hence the caches and hand-made quoting; the literals must stay exactly what pg would have produced.

import type { RawRow } from './types.js';

/** One array literal per column ('{…}'), built here rather than by pg: joining is several times faster
 *  than pg's per-element `+=`, and it is the hot path. */
export type Batch = string[];

const NEEDS_ESCAPE = /[\\"]/g;

/** An array element, quoted: pg array syntax escapes `"` and `\\` with a backslash, nothing else. */
const quoteElement = (s: string): string => `"${s.replace(NEEDS_ESCAPE, '\\$&')}"`;

/**
 * JSON text as an array element. JSON.stringify(text) quotes it and escapes `"` and `\\` exactly as pg
 * expects; other characters it would escape (control characters, lone surrogates) never occur in
 * the output of JSON.stringify, so the result is the same as quoteElement's, computed much faster.
 */
const quoteJsonElement = (json: string): string => JSON.stringify(json);

const quoteCache = new Map<string, string>();

let isoSecond = Number.NaN;
let isoPrefix = '';
/** new Date(ms).toISOString(), reusing the "YYYY-MM-DDTHH:MM:SS." part: rows come ~4 per second. */
function iso(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const frac = ms - second * 1000;
  return `${isoPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}

/** Builds the column literals for rows [start, start + n), yielding to the event loop now and then so
 *  the previous batch's statement keeps flowing to the server while we generate. */
export async function buildBatch(
  rowAt: (index: number) => RawRow,
  start: number,
  n: number,
  nextId: (() => number) | undefined,
): Promise<Batch> {
  const ids: number[] = [];
  const quoted = quoteCache;
  const quote = (s: string): string => {
    let q = quoted.get(s);
    if (q === undefined) {
      if (quoted.size > 10_000) quoted.clear();
      q = quoteElement(s);
      quoted.set(s, q);
    }
    return q;
  };
  const runIds = new Array<string>(n);
  const times = new Array<string>(n);
  const levels = new Array<string>(n);
  const types = new Array<string>(n);
  const messages = new Array<string>(n);
  const datas = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % 2000 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const row = rowAt(start + i);
    if (nextId) ids.push(nextId());
    runIds[i] = row.runId; // uuids and ISO timestamps need no quoting
    times[i] = iso(row.ms);
    levels[i] = quote(row.level);
    types[i] = quote(row.eventType);
    messages[i] = row.message === null ? 'NULL' : quote(row.message); // a few hundred distinct messages
    datas[i] = row.data === null ? 'NULL' : quoteJsonElement(JSON.stringify(row.data));
  }
  const cols = [runIds, times, levels, types, messages, datas].map((c) => `{${c.join(',')}}`);
  return nextId ? [`{${ids.join(',')}}`, ...cols] : cols;
}
