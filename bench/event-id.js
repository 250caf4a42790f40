// Benchmark of event-id v1 on one core: the fast path (`eventId` from the built @backfill/shared) against the
// reference implementation (canonicalize + uuid v5) on realistic run_logs rows (~300 bytes canonical JSON).
//
//   node bench/event-id.js            # 200,000 rows
//   node bench/event-id.js 500000     # more rows
//
// Needs the built package (`npm run build`); imports resolve to packages/shared/dist.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '@backfill/demo-data';
import { canonicalEvent, EVENT_ID_NAMESPACE, eventId } from '@backfill/shared/event-id';
import canonicalize from 'canonicalize';
import { v5 as uuidv5 } from 'uuid';

const EVENT_TYPES = ['step.started', 'step.finished', 'tool.call', 'tool.result', 'model.output', 'retry'];
const LEVELS = ['debug', 'info', 'info', 'info', 'warn', 'error'];
const WORDS = [
  'fetch',
  'parse',
  'résumé',
  'naïve',
  'Zürich',
  '東京',
  'данные',
  'ok',
  'retrying',
  '🚀',
  'done',
];

/** Deterministic pseudo-random numbers (mulberry32, shared with demo-data) so runs are comparable. */
const rng = mulberry32;

/** `count` rows shaped like run_logs as read by pg (extra id/timestamp columns included). */
export function makeRows(count, seed = 42) {
  const r = rng(seed);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const runIds = Array.from({ length: 64 }, () => randomUUID());
  const rows = new Array(count);
  for (let i = 0; i < count; i++) {
    rows[i] = {
      id: String(i + 1),
      run_id: pick(runIds),
      timestamp: new Date(1_700_000_000_000 + i * 17),
      level: pick(LEVELS),
      event_type: pick(EVENT_TYPES),
      message: r() < 0.1 ? null : `${pick(WORDS)} ${pick(WORDS)} step ${i % 977} of run`,
      data: {
        step: i % 977,
        attempt: 1 + Math.floor(r() * 3),
        duration_ms: Math.round(r() * 1e6) / 1000,
        ok: r() < 0.9,
        tool: { name: pick(WORDS), args: [pick(WORDS), Math.floor(r() * 1e9), r() < 0.5 ? null : r()] },
        tags: [pick(WORDS), pick(WORDS)],
        note: r() < 0.3 ? `${pick(WORDS)}\t"${pick(WORDS)}"\n` : pick(WORDS),
      },
    };
  }
  return rows;
}

function referenceEventId(row) {
  const canonical = canonicalize({
    run_id: row.run_id.toLowerCase(),
    event_type: row.event_type,
    level: row.level,
    message: row.message,
    data: row.data,
  });
  return uuidv5(canonical, EVENT_ID_NAMESPACE);
}

/** Rows per second of `fn` over `rows` (best of `rounds` passes after a warm-up). */
function measure(fn, rows, rounds) {
  let sink = 0;
  const warm = Math.min(rows.length, 20_000);
  for (let i = 0; i < warm; i++) sink += fn(rows[i]).length;
  let best = 0;
  for (let k = 0; k < rounds; k++) {
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i++) sink += fn(rows[i]).length;
    const seconds = (performance.now() - t0) / 1000;
    best = Math.max(best, rows.length / seconds);
  }
  if (sink === 0) throw new Error('unreachable');
  return Math.round(best);
}

/**
 * Measures event_id throughput on one core.
 * @returns {Promise<{ rowsPerSecond: number, referenceRowsPerSecond: number, avgCanonicalBytes: number }>}
 */
export async function benchEventId({ rows = 200000 } = {}) {
  const data = makeRows(rows);
  let bytes = 0;
  for (let i = 0; i < data.length; i++) {
    const row = data[i];
    bytes += Buffer.byteLength(canonicalEvent(row));
    // Spot-check against the reference (every row would double the run time; the tests do the rest).
    if (i % 20 === 0 && eventId(row) !== referenceEventId(row)) {
      throw new Error(`fast path disagrees with the reference on row ${row.id}`);
    }
  }
  const rowsPerSecond = measure(eventId, data, 5);
  // The reference is ~4x slower: a 50,000-row slice is plenty to measure it.
  const referenceRowsPerSecond = measure(referenceEventId, data.slice(0, 50_000), 2);
  return { rowsPerSecond, referenceRowsPerSecond, avgCanonicalBytes: Math.round(bytes / rows) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = process.argv[2] ? Number(process.argv[2]) : undefined;
  const result = await benchEventId(rows ? { rows } : {});
  console.log(JSON.stringify(result));
}
