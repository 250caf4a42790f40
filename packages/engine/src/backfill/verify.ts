// `backfill verify`: recompute ids and compare with what is stored.
import { tryEventId } from '@backfill/shared/event-id';
import type pg from 'pg';
import { connectPooled, createPool, qualified, RUN_LOGS, type TableRef } from '../db.js';
import type { Logger } from '../logger.js';
import { resolveIdRange } from './bounds.js';
import { assertBackfillReady } from './run.js';

export interface VerifyOptions {
  databaseUrl: string;
  table?: TableRef;
  mode: { full: true } | { full: false; sample: number };
  fromId?: bigint;
  toId?: bigint;
  batchSize?: number;
  onProgress?: (checked: number) => void;
  logger: Logger;
}

export interface VerifyReport {
  fromId: bigint;
  toId: bigint;
  mode: 'full' | 'sample';
  rowsChecked: number;
  /** Checked rows with an event_id equal to the recomputed one. */
  matches: number;
  mismatches: number;
  firstMismatches: Array<{ id: string; stored: string; expected: string }>;
  /** Checked rows whose event id cannot be computed (bad rows). */
  uncomputable: number;
  /** NULL event_id rows in the whole range, counted through ix_run_logs_event_id. */
  nullCount: number;
  seconds: number;
}

interface StoredRow {
  id: string;
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  data: unknown;
  event_id: string | null;
}

const COLUMNS = 'id, run_id, event_type, level, message, data, event_id';

/** The NULL count's statement, on its own so a test can EXPLAIN exactly the text that runs. */
export function nullCountQuery(table: TableRef, fromId: bigint, toId: bigint): pg.QueryConfig<string[]> {
  return {
    text: `SELECT count(*) AS n FROM ${qualified(table)} WHERE event_id IS NULL AND id + 0 BETWEEN $1 AND $2`,
    values: [fromId.toString(), toId.toString()],
  };
}

/** Counts NULL event_ids in [from, to] through the event_id index (btree indexes NULLs), never a seq scan. */
export async function countRemainingNulls(
  client: pg.ClientBase,
  table: TableRef,
  fromId: bigint,
  toId: bigint,
): Promise<number> {
  await client.query('BEGIN READ ONLY');
  try {
    // `id + 0` keeps the planner off the primary key, and no seq scan leaves ix_run_logs_event_id.
    await client.query('SET LOCAL enable_seqscan = off');
    const { rows } = await client.query<{ n: string }>(nullCountQuery(table, fromId, toId));
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.query('COMMIT');
  }
}

function check(rows: StoredRow[], report: VerifyReport): void {
  for (const row of rows) {
    report.rowsChecked++;
    if (row.event_id === null) continue;
    const r = tryEventId(row);
    if (!r.ok) {
      report.uncomputable++;
      continue;
    }
    if (r.eventId === row.event_id) report.matches++;
    else {
      report.mismatches++;
      if (report.firstMismatches.length < 10) {
        report.firstMismatches.push({ id: row.id, stored: row.event_id, expected: r.eventId });
      }
    }
  }
}

export async function verifyRange(opts: VerifyOptions): Promise<VerifyReport> {
  const table = opts.table ?? RUN_LOGS;
  const started = Date.now();
  const pool = createPool(opts.databaseUrl, { max: 1, application_name: 'backfill-verify' });
  const client = await connectPooled(pool, opts.databaseUrl);
  try {
    await assertBackfillReady(client, table);
    const { fromId, toId } = await resolveIdRange(client, table, opts);
    const report: VerifyReport = {
      fromId,
      toId,
      mode: opts.mode.full ? 'full' : 'sample',
      rowsChecked: 0,
      matches: 0,
      mismatches: 0,
      firstMismatches: [],
      uncomputable: 0,
      nullCount: 0,
      seconds: 0,
    };
    if (toId >= fromId) {
      if (opts.mode.full)
        await verifyFull(client, table, fromId, toId, opts.batchSize ?? 10_000, report, opts);
      else await verifySample(client, table, fromId, toId, opts.mode.sample, report, opts);
      report.nullCount = await countRemainingNulls(client, table, fromId, toId);
    }
    report.seconds = (Date.now() - started) / 1000;
    return report;
  } finally {
    client.release();
    await pool.end();
  }
}

async function verifyFull(
  client: pg.ClientBase,
  table: TableRef,
  fromId: bigint,
  toId: bigint,
  batchSize: number,
  report: VerifyReport,
  opts: VerifyOptions,
): Promise<void> {
  let cursor = fromId - 1n;
  for (;;) {
    const { rows } = await client.query<StoredRow>(
      `SELECT ${COLUMNS} FROM ${qualified(table)} WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`,
      [cursor.toString(), toId.toString(), batchSize],
    );
    if (rows.length === 0) return;
    check(rows, report);
    cursor = BigInt(rows[rows.length - 1]!.id);
    opts.onProgress?.(report.rowsChecked);
    if (rows.length < batchSize) return;
  }
}

/** Probes per statement: a big sample is checked in slices, never held in memory at once. */
const SAMPLE_SLICE = 1000;

/**
 * Random probes across the id range: for each random point, the first row at or after it. One
 * statement per slice of SAMPLE_SLICE probes, one primary-key probe each; duplicates within a slice
 * (points in the same gap) are checked once.
 */
async function verifySample(
  client: pg.ClientBase,
  table: TableRef,
  fromId: bigint,
  toId: bigint,
  sample: number,
  report: VerifyReport,
  opts: VerifyOptions,
): Promise<void> {
  for (let left = sample; left > 0; left -= SAMPLE_SLICE) {
    // The random points are drawn in their own subquery so each probe gets a different one.
    const { rows } = await client.query<StoredRow>(
      `SELECT DISTINCT ON (r.id) r.*
         FROM (SELECT $1::bigint + floor(random() * ($2::bigint - $1::bigint + 1))::bigint AS p
                 FROM generate_series(1, $3::int)) pts
         CROSS JOIN LATERAL (
           SELECT ${COLUMNS} FROM ${qualified(table)}
            WHERE id >= pts.p AND id <= $2::bigint
            ORDER BY id LIMIT 1) r`,
      [fromId.toString(), toId.toString(), Math.min(left, SAMPLE_SLICE)],
    );
    check(rows, report);
    opts.onProgress?.(report.rowsChecked);
  }
}
