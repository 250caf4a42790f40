// planShards: cut a table's id range into shards of about `shardRows` rows each, following row density
// (a sparse table must not turn into thousands of empty id-width shards).
//
//   keyset     exact: walks the primary-key index, one `OFFSET n-1 LIMIT 1` step per shard. Reads every
//              id in the range: right up to a few million rows, slow at a billion.
//   histogram  estimated: pg_stats.histogram_bounds of id (equi-depth buckets), merged up to the target
//              and split by id width when a bucket is bigger. Ids outside the histogram (inserted since
//              the last ANALYZE) are walked by keyset, so the whole range is always covered.
import { LIMITS } from '@backfill/shared/settings';
import type pg from 'pg';
import { qualified, quoteIdent, type TableRef } from '../db.js';
import { SchemaError, UsageError } from '../errors.js';
import {
  analyzeWithTarget,
  HIGH_STATISTICS_TARGET,
  type IdStatistics,
  readIdStatistics,
} from './histogram.js';
import { keysetWalk } from './keyset.js';
import { bucketPieces, packPieces } from './pack.js';
import type { Piece, PlannedShard, PlannerMethod, PlanOptions, ShardPlan } from './types.js';

export const DEFAULT_KEYSET_MAX_ROWS = 5_000_000;

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
const ID_TYPES = new Set(['smallint', 'integer', 'bigint']);

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function checkId(name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'bigint') throw new UsageError(`${name} must be a bigint, got ${typeof v} ${String(v)}`);
  if (v < INT8_MIN || v > INT8_MAX) throw new UsageError(`${name} ${v} is outside the bigint range`);
}

function validate(opts: PlanOptions): void {
  if (!opts || typeof opts !== 'object') throw new UsageError('planShards needs options');
  const t = opts.table as Partial<TableRef> | undefined;
  if (!t || typeof t.schema !== 'string' || !t.schema || typeof t.name !== 'string' || !t.name) {
    throw new UsageError('table must name a schema and a table');
  }
  if (!Number.isSafeInteger(opts.shardRows) || opts.shardRows < 1) {
    throw new UsageError(`shard rows must be a whole number ≥ 1, got ${String(opts.shardRows)}`);
  }
  checkId('fromId', opts.fromId);
  checkId('toId', opts.toId);
  const method = opts.method ?? 'auto';
  if (method !== 'auto' && method !== 'keyset' && method !== 'histogram') {
    throw new UsageError(`method must be auto, keyset or histogram, got ${String(method)}`);
  }
  const max = opts.keysetMaxRows;
  if (max !== undefined && (typeof max !== 'number' || Number.isNaN(max) || max < 0)) {
    throw new UsageError(`keysetMaxRows must be a number ≥ 0, got ${String(max)}`);
  }
  if (opts.analyze !== undefined && typeof opts.analyze !== 'boolean') {
    throw new UsageError(`analyze must be true or false, got ${String(opts.analyze)}`);
  }
  if (!opts.logger || typeof opts.logger.info !== 'function')
    throw new UsageError('planShards needs a logger');
}

interface TableInfo {
  /** pg_class.reltuples: -1 when never analyzed or vacuumed. */
  reltuples: number;
}

async function inspectTable(client: pg.ClientBase, table: TableRef): Promise<TableInfo> {
  const { rows } = await client.query<{ reltuples: number; relkind: string; id_type: string | null }>(
    `SELECT c.reltuples::float8 AS reltuples, c.relkind::text AS relkind,
            format_type(a.atttypid, NULL) AS id_type
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_attribute a
              ON a.attrelid = c.oid AND a.attname = 'id' AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relname = $2`,
    [table.schema, table.name],
  );
  const r = rows[0];
  const t = qualified(table);
  if (!r) throw new UsageError(`table ${t} does not exist`);
  if (r.relkind !== 'r' && r.relkind !== 'p')
    throw new UsageError(`${t} is not a table (relkind ${r.relkind})`);
  if (!r.id_type) throw new SchemaError(`${t} has no id column to shard on`);
  if (!ID_TYPES.has(r.id_type))
    throw new SchemaError(`${t}.id is ${r.id_type}, not an integer: cannot shard on it`);
  return { reltuples: Number(r.reltuples) };
}

async function minMax(client: pg.ClientBase, table: TableRef): Promise<{ min: bigint; max: bigint } | null> {
  const id = quoteIdent('id');
  const { rows } = await client.query<{ min: string | null; max: string | null }>(
    `SELECT min(${id})::text AS min, max(${id})::text AS max FROM ${qualified(table)}`,
  );
  const r = rows[0];
  return r?.min != null && r.max != null ? { min: BigInt(r.min), max: BigInt(r.max) } : null;
}

async function countWhere(client: pg.ClientBase, table: TableRef, where: string, params: string[]) {
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${qualified(table)} WHERE ${where}`,
    params,
  );
  return Number(rows[0]?.n ?? 0);
}

/** The planner's row count for the whole table: reltuples scaled to the table's current size. */
async function plannerRows(client: pg.ClientBase, table: TableRef): Promise<number> {
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${qualified(table)}`,
  );
  return rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0;
}

interface Note {
  text: string;
  warn?: boolean;
}

async function histogramPieces(
  client: pg.ClientBase,
  opts: PlanOptions,
  stats: IdStatistics,
  fromId: bigint,
  toId: bigint,
  notes: Note[],
  analyzed: boolean,
): Promise<Piece[]> {
  const { table, shardRows, logger } = opts;
  const id = quoteIdent('id');
  const bounds = stats.bounds;
  const b0 = bounds[0]!;
  const bLast = bounds[bounds.length - 1]!;
  const buckets = bounds.length - 1;

  // Rows outside the histogram are counted, not guessed: normally a handful (the sample missed them),
  // many when rows were inserted since the last ANALYZE.
  const below = await countWhere(client, table, `${id} < $1::bigint`, [b0.toString()]);
  const above = await countWhere(client, table, `${id} > $1::bigint`, [bLast.toString()]);
  const total = (await plannerRows(client, table)) * (1 - stats.nullFrac);
  const inside = Math.max(0, total - below - above);
  const perBucket = inside / buckets;
  notes.push({
    text:
      `histogram of ${qualified(table)}.id: ${fmt(bounds.length)} bounds, ${fmt(buckets)} buckets of ≈ ${fmt(perBucket)} rows ` +
      `(≈ ${fmt(inside)} rows from ${b0} to ${bLast}; ${fmt(below)} below and ${fmt(above)} above counted exactly)`,
  });
  if (perBucket > shardRows) {
    notes.push({
      warn: true,
      text:
        `histogram buckets (≈ ${fmt(perBucket)} rows) are bigger than the shard target (${fmt(shardRows)}): ` +
        'they are cut by id width, assuming rows are uniform within a bucket, so shards may be uneven' +
        (analyzed
          ? ''
          : `; --analyze gathers a finer histogram (statistics target ${HIGH_STATISTICS_TARGET})`),
    });
  }
  if (above > Math.max(shardRows, 0.1 * inside)) {
    notes.push({
      warn: true,
      text:
        `${fmt(above)} rows lie above the last histogram bound (${bLast}), probably inserted since the last ` +
        'ANALYZE: those in the range were walked by keyset; --analyze would refresh the statistics',
    });
  }

  const pieces: Piece[] = [];
  if (fromId < b0) {
    const to = toId < b0 - 1n ? toId : b0 - 1n;
    for (const p of await keysetWalk(client, { table, fromId, toId: to, step: shardRows, logger }))
      pieces.push(p);
  }
  const lo = fromId > b0 ? fromId : b0;
  const hi = toId < bLast ? toId : bLast;
  if (lo <= hi) {
    for (const p of bucketPieces(bounds, perBucket, lo, hi)) pieces.push(p);
  }
  if (toId > bLast) {
    const from = fromId > bLast ? fromId : bLast + 1n;
    const tail = await keysetWalk(client, { table, fromId: from, toId, step: shardRows, logger });
    for (const p of tail) pieces.push(p);
  }
  return pieces;
}

/** A plan of more than `max` shards: every shard is a ledger row and a queued job. */
function tooManyShards(rows: number, shardRows: number, max: number, about = ''): UsageError {
  return new UsageError(
    `--shard-rows ${fmt(shardRows)} would cut ${about}${fmt(rows)} rows into ${about}${fmt(Math.ceil(rows / shardRows))} ` +
      `shards, more than the ${fmt(max)} one run may have: use --shard-rows ${Math.ceil(rows / max)} or more`,
  );
}

/**
 * Rows with ids in [fromId, toId], enough to tell whether the plan would exceed `maxShards`: the
 * planner's estimate for a histogram plan (a big, analyzed table: no scan), else an exact count that
 * stops once the answer is clear (at most maxShards × shardRows + 1 ids read, fewer than the keyset
 * walk it comes before would read).
 */
async function rowsInRange(
  client: pg.ClientBase,
  table: TableRef,
  range: { fromId: bigint; toId: bigint },
  analyzed: boolean,
  cap: number,
): Promise<{ rows: number; estimated: boolean }> {
  const where = `${quoteIdent('id')} BETWEEN ${range.fromId.toString()} AND ${range.toId.toString()}`;
  if (analyzed) {
    const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(
      `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${qualified(table)} WHERE ${where}`,
    );
    return { rows: rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0, estimated: true };
  }
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM (SELECT 1 FROM ${qualified(table)} WHERE ${where} LIMIT ${Math.trunc(cap) + 1}) s`,
  );
  return { rows: Number(rows[0]?.n ?? 0), estimated: false };
}

/** Plans shards over [fromId, toId] of `opts.table`; see PlanOptions and ShardPlan. */
export async function planShards(client: pg.ClientBase, opts: PlanOptions): Promise<ShardPlan> {
  const started = performance.now();
  validate(opts);
  const { table, shardRows, logger } = opts;
  const t = qualified(table);
  const requested = opts.method ?? 'auto';
  const keysetMaxRows = opts.keysetMaxRows ?? DEFAULT_KEYSET_MAX_ROWS;
  const maxShards = opts.maxShards ?? LIMITS.shards.max;
  const notes: Note[] = [];

  const info = await inspectTable(client, table);
  const range = await minMax(client, table);
  const fromId = opts.fromId ?? range?.min ?? 1n;
  const toId = opts.toId ?? range?.max ?? 0n;

  const finish = (method: PlannerMethod, shards: PlannedShard[]): ShardPlan => {
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const estimatedRows = shards.reduce((s, x) => s + x.estimatedRows, 0);
    if (shards.length > maxShards) throw tooManyShards(estimatedRows, shardRows, maxShards);
    const plan: ShardPlan = {
      method,
      fromId,
      toId,
      shardRows,
      estimatedRows,
      shards,
      ms,
      notes: notes.map((n) => n.text),
    };
    for (const n of notes) if (n.warn) logger.warn({ table: t }, n.text);
    logger.info(
      {
        table: t,
        method,
        shards: shards.length,
        estimatedRows,
        fromId: String(fromId),
        toId: String(toId),
        ms,
      },
      `planned ${fmt(shards.length)} shard(s) of ${t} by ${method} in ${ms} ms (≈ ${fmt(estimatedRows)} rows)`,
    );
    return plan;
  };

  // Which method, and why.
  let method: PlannerMethod;
  if (requested === 'auto') {
    if (info.reltuples < 0) {
      method = 'keyset';
      notes.push({
        text: 'keyset walk: exact boundaries (row count unknown: the table has never been analyzed or vacuumed)',
      });
    } else if (info.reltuples <= keysetMaxRows) {
      method = 'keyset';
      notes.push({
        text: `keyset walk: exact boundaries (≈ ${fmt(info.reltuples)} rows ≤ ${fmt(keysetMaxRows)})`,
      });
    } else {
      method = 'histogram';
      notes.push({
        text:
          `histogram: estimated boundaries from statistics (≈ ${fmt(info.reltuples)} rows > ${fmt(keysetMaxRows)}, ` +
          'too many to walk every id)',
      });
    }
  } else {
    method = requested;
    notes.push({
      text:
        method === 'keyset'
          ? 'keyset walk (requested): exact boundaries'
          : 'histogram (requested): estimated boundaries from statistics',
    });
  }
  if (method === 'keyset' && opts.analyze) {
    notes.push({ text: 'analyze ignored: a keyset walk does not use statistics (nothing was changed)' });
  }

  if (!range) {
    notes.push({ text: `${t} is empty: no shards` });
    return finish(method, []);
  }
  if (toId < fromId) {
    notes.push({ text: `empty range: to id ${toId} is below from id ${fromId}: no shards` });
    return finish(method, []);
  }
  // Before walking: a keyset walk is one statement per shard, and a million tiny shards would take as
  // long to plan as to run (and flood Redis). The exact count is checked again when the plan is done.
  const cap = Math.min(Number.MAX_SAFE_INTEGER - 1, maxShards * shardRows);
  const estimate = method === 'histogram' && info.reltuples >= 0; // a keyset walk reads every id anyway
  const expected = await rowsInRange(client, table, { fromId, toId }, estimate, cap);
  if (expected.rows > cap)
    throw tooManyShards(expected.rows, shardRows, maxShards, expected.estimated ? '≈ ' : 'at least ');

  if (method === 'histogram') {
    let stats: IdStatistics | null;
    if (opts.analyze) {
      const a = await analyzeWithTarget(client, table, HIGH_STATISTICS_TARGET);
      stats = a.stats;
      const name = (n: number) => (n < 0 ? 'the default (-1)' : String(n));
      notes.push({
        text:
          `raised the statistics target of ${t}.id from ${name(a.previousTarget)} to ${HIGH_STATISTICS_TARGET}, ` +
          `ran ANALYZE ${t} (id) (${fmt(a.analyzeMs)} ms) and restored the target to ${name(a.restoredTarget)}, ` +
          'in one transaction; the finer histogram stays until the next ANALYZE of the table',
      });
      if (a.restoredTarget !== a.previousTarget) {
        notes.push({
          warn: true,
          text: `statistics target of ${t}.id is ${a.restoredTarget}, expected ${a.previousTarget} after restoring`,
        });
      }
    } else {
      stats = await readIdStatistics(client, table);
    }
    if (stats) {
      const pieces = await histogramPieces(client, opts, stats, fromId, toId, notes, opts.analyze === true);
      return finish('histogram', packPieces(pieces, shardRows));
    }
    notes.push({
      warn: true,
      text:
        `no statistics for ${t}.id (never analyzed, or too few rows): fell back to a keyset walk, which reads ` +
        'every id in the range and may take long on a big table; --analyze collects statistics first',
    });
    method = 'keyset';
  }

  const pieces = await keysetWalk(client, { table, fromId, toId, step: shardRows, logger });
  return finish(method, packPieces(pieces, shardRows));
}
