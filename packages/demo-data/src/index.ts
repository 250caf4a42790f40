// Demo data: realistic legacy run_logs rows (as the old tool wrote them, without event_id), generated
// deterministically from a seed and inserted fast with one `INSERT … SELECT * FROM unnest(…)` per batch.

import { qualified, quoteIdent, RUN_LOGS, type TableRef } from '@backfill/engine/db';
import { PgCode, pgCodeOf, SchemaError, UsageError } from '@backfill/engine/errors';
import { type Logger, silentLogger } from '@backfill/engine/logger';
import pg from 'pg';

/** run_logs as the legacy tool created it, before our migration adds `event_id`. */
export function legacyRunLogsDdl(table: TableRef = RUN_LOGS): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(table)} (
  ${quoteIdent('id')} bigserial PRIMARY KEY,
  ${quoteIdent('run_id')} uuid NOT NULL,
  ${quoteIdent('timestamp')} timestamptz NOT NULL DEFAULT now(),
  ${quoteIdent('level')} text NOT NULL DEFAULT 'info',
  ${quoteIdent('event_type')} text NOT NULL,
  ${quoteIdent('message')} text,
  ${quoteIdent('data')} jsonb
)`;
}

export const LEGACY_RUN_LOGS_DDL: string = legacyRunLogsDdl(RUN_LOGS);

export const DEMO_MAX_ROWS = 100_000_000;
export const DEMO_DEFAULT_BATCH_ROWS = 10_000;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type DemoLevel = 'debug' | 'info' | 'warn' | 'error';

export interface DemoRow {
  runId: string;
  timestamp: Date;
  level: DemoLevel;
  eventType: string;
  message: string | null;
  data: JsonValue | null;
}

export interface GenerateOptions {
  /** Any safe integer; the same seed always yields the same rows. Default 1. */
  seed?: number;
  /** Index of the first row: rows are addressable, so `startIndex: k` continues where k rows ended. */
  startIndex?: number;
}

// ---------------------------------------------------------------------------------------------------
// Deterministic randomness: every row has its own mulberry32 stream seeded from (seed, index), so any
// slice of the sequence can be generated without generating what comes before it.

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of a list of safe integers (each split into its low and high 32 bits). */
function hash32(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    const lo = p >>> 0;
    const hi = Math.floor(p / 0x1_0000_0000) >>> 0;
    h = fmix32(Math.imul(h ^ lo, 0x01000193) + 0x7f4a7c15);
    h = fmix32(Math.imul(h ^ hi, 0x01000193) + 0x6a09e667);
  }
  return h;
}

/** The per-row stream's seed from hash32(seed) and the row index: hash32's mixing without its rest array. */
function hashIndex(seedHash: number, index: number): number {
  const h = fmix32(Math.imul(seedHash ^ (index >>> 0), 0x01000193) + 0x7f4a7c15);
  return fmix32(Math.imul(h ^ (Math.floor(index / 0x1_0000_0000) >>> 0), 0x01000193) + 0x6a09e667);
}

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rng, min: number, max: number): number => min + Math.floor(r() * (max - min + 1));
const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

function weighted<T>(table: readonly (readonly [T, number])[]): (r: Rng) => T {
  const total = table.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  const cumulative = table.map(([v, w]): [T, number] => {
    acc += w;
    return [v, acc / total];
  });
  return (r) => {
    const x = r();
    for (const [v, c] of cumulative) if (x < c) return v;
    return table[table.length - 1]![0];
  };
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

function uuidFrom(w0: number, w1: number, w2: number, w3: number): string {
  const a = hex8(w0);
  const b = hex8((w1 & 0xffff0fff) | 0x00004000); // version 4
  const c = hex8((w2 & 0x3fffffff) | 0x80000000); // RFC 4122 variant
  const d = hex8(w3);
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
}

// ---------------------------------------------------------------------------------------------------
// Runs. Rows are spread over a few "lanes" (concurrent CI pipelines); in each lane the index space is cut
// into runs of a lane-specific length at a seed-specific offset. A row picks its lane at random, so runs
// interleave and each run owns ~50–500 rows that are consecutive-ish.

const LANES: readonly { share: number; span: number }[] = [
  { share: 0.4, span: 240 }, // ~96 rows per run
  { share: 0.3, span: 700 }, // ~210
  { share: 0.2, span: 1500 }, // ~300
  { share: 0.1, span: 4500 }, // ~450
];

interface Run {
  id: string;
  host: string;
  region: string;
  branch: string;
  commit: string;
  pipeline: number;
  actor: string;
}

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-northeast-1', 'sa-east-1', 'eu-central-1'] as const;
const BRANCHES = [
  'main',
  'release/2.4',
  'feature/événements',
  'fix/ユニコード',
  'dependabot/npm/pg-8.23',
  'hotfix/🔥',
];
const ACTORS = ['renée', 'jürgen', 'søren', '李雷', 'ayşe', 'dependabot[bot]', 'ci', 'mrinal'];

function runFor(seed: number, lane: number, runNo: number): Run {
  const h = hash32(seed, 0x52554e, lane, runNo);
  const r = mulberry32(h);
  const w = () => Math.floor(r() * 4294967296);
  return {
    id: uuidFrom(w(), w(), w(), w()),
    host: `runner-${String(h % 48).padStart(2, '0')}`,
    region: pick(r, REGIONS),
    branch: pick(r, BRANCHES),
    commit: hexString(r, 40),
    pipeline: int(r, 1000, 999_999),
    actor: pick(r, ACTORS),
  };
}

/** A DemoRow with its timestamp as epoch milliseconds (the insert path formats it itself). */
type RawRow = Omit<DemoRow, 'timestamp'> & { ms: number };

/** Row generator for one seed; caches the current run of each lane (rows of a run are close together). */
function rowGenerator(seed: number): (index: number) => RawRow {
  const offsets = LANES.map(({ span }, lane) => hash32(seed, 0x4c414e45, lane) % span);
  const seedHash = hash32(seed);
  const cache = LANES.map(() => ({ runNo: -1, run: undefined as Run | undefined }));
  return (index) => {
    const r = mulberry32(hashIndex(seedHash, index));
    let lane = LANES.length - 1;
    let x = r();
    for (let l = 0; l < LANES.length; l++) {
      x -= LANES[l]!.share;
      if (x < 0) {
        lane = l;
        break;
      }
    }
    const runNo = Math.floor((index + offsets[lane]!) / LANES[lane]!.span);
    const slot = cache[lane]!;
    if (slot.runNo !== runNo || !slot.run) {
      slot.runNo = runNo;
      slot.run = runFor(seed, lane, runNo);
    }
    return rowAt(r, index, slot.run);
  };
}

// ---------------------------------------------------------------------------------------------------
// Row contents.

const BASE_TIME_MS = Date.UTC(2024, 0, 1, 0, 0, 0);
/** Row i is stamped in [BASE + i·STEP, BASE + (i+1)·STEP): timestamps strictly increase. */
const TIME_STEP_MS = 250;

const levelOf = weighted<DemoLevel>([
  ['info', 74],
  ['debug', 17],
  ['warn', 7],
  ['error', 2],
]);

const eventTypeOf = weighted<string>([
  ['log.line', 38],
  ['metric', 18],
  ['step.started', 10],
  ['step.finished', 10],
  ['artifact.uploaded', 5],
  ['cache.restored', 6],
  ['checkpoint.saved', 5],
  ['retry.scheduled', 3],
  ['test.result', 5],
]);

const STEPS = ['checkout', 'install', 'lint', 'build', 'test', 'package', 'deploy', 'smoke-test', 'e2e'];
const UNICODE = [
  'café crème',
  'naïve façade',
  'Überprüfung abgeschlossen',
  'ビルドが完了しました',
  '构建成功',
  '테스트 통과',
  'Привет, мир',
  'مرحبا بالعالم',
  'São Paulo',
  'Ωmega ≈ ∑ √π',
  'e\u0301 (combining acute)',
  '🚀 deploying',
  '✅ all green',
  '🔥🐛 flaky',
  '👩‍💻 pair review',
  'smörgåsbord',
] as const;
const LOG_LINES = [
  'Resolving dependencies',
  'Downloading pg@8.23.1 (1.2 MB)',
  'Compiled 214 files in 3.4s',
  'warning: unused variable `ctx`',
  'npm WARN deprecated glob@7.2.3',
  'PASS test/shard.test.ts (4.12 s)',
  'FAIL test/ledger.test.ts › resumes after crash',
  'Using cache key "npm-linux-x64-5f3c"',
  'Wrote C:\\build\\out\\report.xml',
  'exit status 0',
  'connection reset by peer; retrying in 500ms',
  '\tat Object.<anonymous> (src/index.ts:12:7)',
  'multi\nline\noutput',
] as const;
const METRICS: readonly (readonly [string, string, number])[] = [
  ['cpu.usage', '%', 100],
  ['memory.rss', 'MiB', 4096],
  ['disk.io.read', 'KiB/s', 90_000],
  ['queue.depth', 'jobs', 40],
  ['http.latency.p99', 'ms', 900],
  ['temperature', '°C', 90],
];
const ERROR_CODES = ['ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', '57014', '40P01', 'HTTP_503'] as const;
const CONTENT_TYPES = [
  'application/gzip',
  'application/json',
  'text/html; charset=utf-8',
  'image/png',
] as const;

function hexString(r: Rng, chars: number): string {
  let s = '';
  while (s.length < chars) s += hex8(Math.floor(r() * 4294967296));
  return s.slice(0, chars);
}

function isoAround(ms: number, r: Rng): string {
  return new Date(ms - int(r, 0, 60_000)).toISOString();
}

function dataFor(type: string, level: DemoLevel, r: Rng, run: Run, ms: number): JsonValue {
  switch (type) {
    case 'step.started': {
      const d: { [k: string]: JsonValue } = {
        step: pick(r, STEPS),
        attempt: int(r, 1, 3),
        runner: { host: run.host, os: pick(r, ['linux', 'macos', 'windows']), cpus: pick(r, [2, 4, 8, 16]) },
        labels: r() < 0.5 ? ['self-hosted', run.region] : [],
      };
      if (r() < 0.25) d['scheduled'] = { timestamp: isoAround(ms, r), queue: pick(r, ['default', 'gpu']) };
      return d;
    }
    case 'step.finished': {
      const failed = level === 'error' || r() < 0.04;
      return {
        step: pick(r, STEPS),
        status: failed ? 'failure' : r() < 0.1 ? 'skipped' : 'success',
        duration_ms: int(r, 5, 600_000),
        exit_code: failed ? int(r, 1, 137) : 0,
        cached: r() < 0.3,
        branch: run.branch,
      };
    }
    case 'log.line':
      return r() < 0.35
        ? null
        : {
            stream: r() < 0.8 ? 'stdout' : 'stderr',
            line: int(r, 1, 50_000),
            step: pick(r, STEPS),
            elapsed_ms: round(r() * 100_000, 3),
            truncated: r() < 0.02,
          };
    case 'metric': {
      const [name, unit, max] = pick(r, METRICS);
      const d: { [k: string]: JsonValue } = {
        name,
        value: round(r() * max, int(r, 0, 4)),
        unit,
        tags: { host: run.host, region: run.region },
      };
      if (r() < 0.35) d['samples'] = Array.from({ length: int(r, 1, 5) }, () => round(r() * max, 3));
      if (r() < 0.2) d['timestamp'] = ms - int(r, 0, 5000); // epoch millis, nested
      if (r() < 0.05) d['ratio'] = r() < 0.5 ? 1e-7 : -0.5; // exponent notation and negatives
      return d;
    }
    case 'artifact.uploaded':
      return {
        name: `${pick(r, ['report', 'coverage', 'rapport-été', 'レポート', 'bundle'])}-${int(r, 1, 999)}.tar.gz`,
        size_bytes: int(r, 100, 2_000_000_000),
        sha256: hexString(r, 64),
        content_type: pick(r, CONTENT_TYPES),
        retention_days: pick(r, [1, 7, 30, 90]),
        public: r() < 0.1,
      };
    case 'cache.restored': {
      const hit = r() < 0.7;
      return {
        key: `npm-${run.region}-${hexString(r, 12)}`,
        hit,
        size_bytes: hit ? int(r, 1000, 900_000_000) : 0,
        restore_ms: hit ? round(r() * 9000, 2) : null,
      };
    }
    case 'checkpoint.saved':
      return {
        cursor: { shard: int(r, 0, 63), last_id: int(r, 1, 9_000_000_000) },
        progress: round(r(), 4),
        at: { timestamp: isoAround(ms, r), tz: pick(r, ['UTC', 'Europe/Zürich', 'Asia/Tōkyō']) },
        notes: r() < 0.3 ? pick(r, UNICODE) : null,
      };
    case 'retry.scheduled':
      return {
        attempt: int(r, 1, 5),
        delay_ms: pick(r, [250, 500, 1000, 2000, 4000]),
        error: { code: pick(r, ERROR_CODES), errno: -int(r, 1, 130), message: pick(r, LOG_LINES) },
      };
    default: // test.result
      return {
        suite: pick(r, ['engine', 'cli', 'worker', 'ui']),
        name: `${pick(r, ['handles', 'rejects', 'resumes'])} ${pick(r, UNICODE)}`,
        passed: level !== 'error',
        duration_ms: round(r() * 2000, 1),
        retries: r() < 0.1 ? int(r, 1, 3) : 0,
        tags: r() < 0.5 ? ['slow', 'db'] : [],
      };
  }
}

function messageFor(type: string, level: DemoLevel, r: Rng, data: JsonValue): string | null {
  if (r() < 0.1) return null;
  const d = (data ?? {}) as { [k: string]: JsonValue };
  switch (type) {
    case 'log.line': {
      const line = pick(r, LOG_LINES);
      return r() < 0.25 ? `${line} — ${pick(r, UNICODE)}` : line;
    }
    case 'step.started':
      return `step ${String(d['step'])} started`;
    case 'step.finished':
      return `step ${String(d['step'])} ${String(d['status'])}`;
    case 'metric':
      return null;
    default:
      return level === 'error' || level === 'warn' ? `${type}: ${pick(r, UNICODE)}` : type;
  }
}

function rowAt(r: Rng, index: number, run: Run): RawRow {
  const ms = BASE_TIME_MS + index * TIME_STEP_MS + Math.floor(r() * TIME_STEP_MS);
  const level = levelOf(r);
  const eventType = eventTypeOf(r);
  let data: JsonValue = null;
  if (r() >= 0.06) {
    data = dataFor(eventType, level, r, run, ms);
    if (data !== null && r() < 0.75) {
      (data as { [k: string]: JsonValue })['ci'] = {
        pipeline: run.pipeline,
        commit: run.commit,
        branch: run.branch,
        actor: run.actor,
      };
    }
  }
  return {
    runId: run.id,
    ms,
    level,
    eventType,
    message: messageFor(eventType, level, r, data),
    data,
  };
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new UsageError(`seed must be a whole number, got ${seed}`);
}

/** `count` rows starting at row `startIndex` of the sequence determined by `seed`. */
export function generateDemoRows(count: number, options: GenerateOptions = {}): DemoRow[] {
  const seed = options.seed ?? 1;
  const startIndex = options.startIndex ?? 0;
  checkSeed(seed);
  if (!Number.isSafeInteger(count) || count < 0) throw new UsageError(`count must be a whole number ≥ 0`);
  if (!Number.isSafeInteger(startIndex) || startIndex < 0) {
    throw new UsageError(`startIndex must be a whole number ≥ 0`);
  }
  const row = rowGenerator(seed);
  const rows = new Array<DemoRow>(count);
  for (let i = 0; i < count; i++) {
    const x = row(startIndex + i);
    rows[i] = {
      runId: x.runId,
      timestamp: new Date(x.ms),
      level: x.level,
      eventType: x.eventType,
      message: x.message,
      data: x.data,
    };
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// Sparse ids: clusters of consecutive ids of very different sizes separated by gaps of very different
// lengths (both log-uniform), averaging ~10^4 ids of key space per row: 1M rows reach ~10^10.

const CLUSTER_MAX = 5000; // rows; log-uniform on [1, CLUSTER_MAX], mean ≈ 587
const GAP_MAX = 110_000_000; // ids; log-uniform on [1, GAP_MAX], mean ≈ 5.9M ≈ 10^4 × mean cluster

/** Yields ascending ids greater than `after`, deterministic for a seed. */
export function sparseIdAllocator(seed: number, after: number): () => number {
  const r = mulberry32(hash32(seed, 0x53504152));
  let next = after + 1;
  let left = 0;
  return () => {
    if (left === 0) {
      left = Math.floor(Math.exp(r() * Math.log(CLUSTER_MAX + 1)));
      if (next > after + 1) next += Math.floor(Math.exp(r() * Math.log(GAP_MAX)));
    }
    left--;
    return next++;
  };
}

// ---------------------------------------------------------------------------------------------------
// Inserting.

export interface InsertDemoOptions {
  table?: TableRef;
  /** Number of rows, 1..100,000,000. */
  rows: number;
  seed?: number;
  /** Explicit ids spread over a much larger range (clusters and gaps); the sequence is advanced after. */
  sparse?: boolean;
  /** Rows per INSERT statement (default 10,000). */
  batchRows?: number;
  onProgress?: (done: number, total: number) => void;
  /** Says when the table had to be created. */
  logger?: Logger;
}

export interface DemoDataSummary {
  rows: number;
  /** Smallest and largest id inserted (decimal strings: bigint). */
  minId: string;
  maxId: string;
  seconds: number;
  /** True when the table did not exist and was created with LEGACY_RUN_LOGS_DDL. */
  createdTable: boolean;
}

type Queryable = pg.Pool | pg.ClientBase;

// Structural, so a pool from another copy of pg is recognised too.
const isPool = (q: Queryable): q is pg.Pool =>
  q instanceof pg.Pool || typeof (q as { totalCount?: unknown }).totalCount === 'number';

const COLUMNS = ['run_id', 'timestamp', 'level', 'event_type', 'message', 'data'] as const;
const TYPES = ['uuid', 'timestamptz', 'text', 'text', 'text', 'jsonb'] as const;

function insertSql(table: TableRef, sparse: boolean): string {
  const cols = sparse ? ['id', ...COLUMNS] : [...COLUMNS];
  const types = sparse ? ['bigint', ...TYPES] : [...TYPES];
  const id = quoteIdent('id');
  return (
    `WITH ins AS (INSERT INTO ${qualified(table)} (${cols.map(quoteIdent).join(', ')}) ` +
    `SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) RETURNING ${id}) ` +
    `SELECT min(${id})::text AS min_id, max(${id})::text AS max_id, count(*)::int AS n FROM ins`
  );
}

/** One array literal per column ('{…}'), built here rather than by pg: joining is several times faster
 *  than pg's per-element `+=`, and it is the hot path. */
type Batch = string[];

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
async function buildBatch(
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

async function tableExists(c: pg.ClientBase, table: TableRef): Promise<boolean> {
  const res = await c.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [
    qualified(table),
  ]);
  return res.rows[0]?.oid != null;
}

function schemaProblem(err: unknown, table: TableRef): Error {
  const code = pgCodeOf(err);
  const what = qualified(table);
  if (code === PgCode.undefinedColumn || code === '42804' /* datatype_mismatch */) {
    return new SchemaError(`${what} does not look like run_logs: ${(err as Error).message}`, { cause: err });
  }
  if (code === '23502' /* not_null_violation */) {
    return new SchemaError(
      `${what} rejects legacy rows (no event_id): ${(err as Error).message}. ` +
        'Demo data must be inserted before event_id becomes NOT NULL.',
      { cause: err },
    );
  }
  return err as Error;
}

/**
 * Inserts `rows` legacy rows (event_id left NULL) into `table` (default public.run_logs), creating the
 * table with LEGACY_RUN_LOGS_DDL when it does not exist. One statement per batch; the next batch is
 * generated while the current one is being inserted.
 */
export async function insertDemoRows(db: Queryable, options: InsertDemoOptions): Promise<DemoDataSummary> {
  const table = options.table ?? RUN_LOGS;
  const total = options.rows;
  const seed = options.seed ?? 1;
  const batchRows = options.batchRows ?? DEMO_DEFAULT_BATCH_ROWS;
  const sparse = options.sparse ?? false;
  const logger = options.logger ?? silentLogger;
  if (!Number.isInteger(total) || total < 1 || total > DEMO_MAX_ROWS) {
    throw new UsageError(
      `rows must be a whole number from 1 to ${DEMO_MAX_ROWS.toLocaleString('en-US')}, got ${total}`,
    );
  }
  checkSeed(seed);
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 100_000) {
    throw new UsageError(`batchRows must be a whole number from 1 to 100,000, got ${batchRows}`);
  }

  const started = performance.now();
  // One connection: batches are inserted in order, so ids follow generation (and timestamp) order.
  // (Two connections in parallel did not pay off on a 2-core machine, and interleave sequence ids.)
  const client = isPool(db) ? await db.connect() : db;
  try {
    let createdTable = false;
    if (!(await tableExists(client, table))) {
      await client.query(legacyRunLogsDdl(table));
      createdTable = true;
      logger.info(
        { table: qualified(table) },
        `table ${qualified(table)} did not exist: created it (legacy DDL)`,
      );
    }

    let nextId: (() => number) | undefined;
    const seq = [qualified(table), 'id'];
    if (sparse) {
      // Start past both the highest id in the table and anything the sequence has handed out.
      const res = await client.query<{ after: string }>(
        `SELECT greatest(
           (SELECT coalesce(max(${quoteIdent('id')}), 0) FROM ${qualified(table)}),
           coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass), 0)
         )::text AS after`,
        seq,
      );
      nextId = sparseIdAllocator(seed, Number(res.rows[0]!.after));
    }

    // Row contents depend only on (seed, row index): the same seed always yields the same rows. Ids come
    // from the table's sequence, or from the sparse allocator.
    const sql = insertSql(table, sparse);
    const rowFor = rowGenerator(seed);
    let minId: bigint | undefined;
    let maxId: bigint | undefined;
    let done = 0;
    type Result = { min_id: string; max_id: string; n: number };
    const settle = async (n: number, query: Promise<pg.QueryResult<Result>>) => {
      let res: pg.QueryResult<Result>;
      try {
        res = await query;
      } catch (err) {
        throw schemaProblem(err, table);
      }
      const row = res.rows[0]!;
      const lo = BigInt(row.min_id);
      const hi = BigInt(row.max_id);
      if (minId === undefined || lo < minId) minId = lo;
      if (maxId === undefined || hi > maxId) maxId = hi;
      done += n;
      options.onProgress?.(done, total);
    };

    let failed = false;
    let issued = false;
    let inflight: { n: number; query: Promise<pg.QueryResult<Result>> } | undefined;
    try {
      // Batch k+1 is generated while batch k is being inserted.
      for (let start = 0; start < total; ) {
        const n = Math.min(batchRows, total - start);
        const batch = await buildBatch(rowFor, start, n, nextId);
        if (inflight) await settle(inflight.n, inflight.query);
        const query = client.query<Result>(sql, batch);
        query.catch(() => {}); // handled in settle(); avoids an unhandled rejection meanwhile
        inflight = { n, query };
        issued = true;
        start += n;
      }
      const last = inflight!;
      inflight = undefined;
      await settle(last.n, last.query);
    } catch (err) {
      failed = true;
      if (inflight) await inflight.query.catch(() => {}); // never release a busy client
      throw err;
    } finally {
      if (sparse && issued) {
        // Explicit ids bypassed the sequence: move it past them so later inserts do not collide (never
        // backwards). Also after a failed batch (the committed ones stay); then the original error is
        // what we report.
        await client
          .query(
            `SELECT setval(s, m) FROM (
               SELECT s, greatest((SELECT max(${quoteIdent('id')}) FROM ${qualified(table)}), pg_sequence_last_value(s)) AS m
               FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS s) AS seq
             ) AS x WHERE s IS NOT NULL AND m IS NOT NULL`,
            seq,
          )
          .catch((err: unknown) => {
            if (!failed) throw err;
          });
      }
    }

    const seconds = Math.round(performance.now() - started) / 1000;
    return { rows: done, minId: String(minId), maxId: String(maxId), seconds, createdTable };
  } finally {
    if (isPool(db)) (client as pg.PoolClient).release();
  }
}
