// The guards in the engine's SQL that only show under concurrency or at scale: an id the application
// writes while a batch is in flight, skipped bad rows in the shard ledger, a finished shard's error,
// and the remaining-NULL count's plan.
import {
  countRemainingNulls,
  nullCountQuery,
  type ProcessRangeOptions,
  processRange,
} from '@backfill/engine/backfill';
import { RUN_LOGS } from '@backfill/engine/db';
import { claimShard, completeShard, createRun, failShard, getShard } from '@backfill/engine/ledger';
import { EVENT_ID_INDEX_NAME } from '@backfill/shared';
import { eventId } from '@backfill/shared/event-id';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { captureLogger } from '../../../test-support/logger.js';
import { insertRunningShard, seedLegacyRows } from '../../../test-support/seed.js';

const { logger } = captureLogger('warn');
const ROWS = 3000;
/** The backfill's own sessions, told apart from the test's in pg_stat_activity. */
const APP_NAME = 'bft-guards-backfill';

async function seeded(name: string, rows = ROWS): Promise<string> {
  const url = await migratedDatabase(`guards_${name}`);
  await seedLegacyRows(url, rows);
  return url;
}

async function runRange(url: string, opts: Partial<ProcessRangeOptions>) {
  const depth = opts.writeDepth ?? 1;
  const pool = new pg.Pool({ connectionString: url, max: 1 + depth, application_name: APP_NAME });
  try {
    return await processRange({
      pool,
      table: RUN_LOGS,
      cursor: 0n,
      toId: BigInt(ROWS),
      batchSize: 1000,
      commit: true,
      onBadRow: 'fail',
      logger,
      ...opts,
    });
  } finally {
    await pool.end();
  }
}

const shardLedger = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT checkpoint_id::text AS checkpoint, rows_updated::int AS updated, rows_skipped::int AS skipped
         FROM backfill_shards WHERE run_id = 1 AND shard_no = 0`,
    );
    return rows[0];
  });

describe('an id the application writes while the batch holding its row is in flight', () => {
  // Row X is read as NULL (the application's write is not committed yet), so it is in the batch; the
  // batch's UPDATE then queues on X's row lock. When the application commits, PostgreSQL re-checks the
  // UPDATE's WHERE on the new row version: only `event_id IS NULL` there keeps the application's id.
  const X = 1500;
  const cases = [
    { writeDepth: 1, shard: false },
    { writeDepth: 2, shard: false },
    { writeDepth: 1, shard: true },
    { writeDepth: 2, shard: true },
  ];
  it.each(cases)('is kept (writers: $writeDepth, shard ledger: $shard)', async ({ writeDepth, shard }) => {
    const url = await seeded(`race_w${writeDepth}_${shard ? 'shard' : 'plain'}`);
    if (shard) await insertRunningShard(url, { name: 'race', runToId: ROWS, shardToId: ROWS });
    const app = new pg.Client({ connectionString: url });
    await app.connect();
    let committed = false;
    let result: Awaited<ReturnType<typeof runRange>>;
    try {
      await app.query('BEGIN');
      await app.query(`UPDATE run_logs SET event_id = 'app-' || id WHERE id = $1`, [X]);
      const running = runRange(url, {
        writeDepth,
        lockTimeoutMs: 120_000,
        ...(shard && { shard: { runId: 1, shardNo: 0 } }),
      });
      running.catch(() => {}); // awaited below; the wait may throw first
      await waitFor('the backfill UPDATE to queue on the application row lock', () =>
        withClient(url, async (c) => {
          const { rows } = await c.query(
            `SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`,
            [APP_NAME],
          );
          return rows.length > 0;
        }),
      );
      await app.query('COMMIT');
      committed = true;
      result = await running;
    } finally {
      if (!committed) await app.query('ROLLBACK').catch(() => {});
      await app.end();
    }
    const rows = await withClient(url, (c) => c.query('SELECT * FROM run_logs ORDER BY id'));
    expect(rows.rows.find((row) => Number(row.id) === X)?.event_id).toBe(`app-${X}`);
    const wrong = rows.rows.filter((row) => Number(row.id) !== X && row.event_id !== eventId(row));
    expect(wrong.map((row) => row.id)).toEqual([]);
    expect(result).toMatchObject({ complete: true, rowsUpdated: ROWS - 1 });
    if (shard) expect(await shardLedger(url)).toMatchObject({ checkpoint: String(ROWS), updated: ROWS - 1 });
  });
});

describe('skipped bad rows in the shard ledger', () => {
  // In three different batches, two of them in one batch.
  const BAD = ['500', '1500', '1501', '2999'];
  it.each([1, 2])(
    'are counted in rows_skipped and listed in backfill_errors (writers: %i)',
    async (depth) => {
      const url = await seeded(`skipped_w${depth}`);
      await insertRunningShard(url, { name: 'bad', runToId: ROWS, shardToId: ROWS });
      await withClient(url, (c) =>
        c.query(`UPDATE run_logs SET data = '{"x": 1e400}'::jsonb WHERE id = ANY($1::bigint[])`, [BAD]),
      );
      const r = await runRange(url, {
        writeDepth: depth,
        onBadRow: 'skip',
        runName: 'bad',
        shard: { runId: 1, shardNo: 0 },
      });
      expect(r).toMatchObject({ complete: true, rowsSkipped: BAD.length, rowsUpdated: ROWS - BAD.length });
      expect(await shardLedger(url)).toEqual({
        checkpoint: String(ROWS),
        updated: ROWS - BAD.length,
        skipped: BAD.length,
      });
      const errors = await withClient(url, (c) =>
        c.query('SELECT table_name, row_id::text, reason, run_name FROM backfill_errors e ORDER BY e.row_id'),
      );
      expect(errors.rows.map((e) => e.row_id)).toEqual(BAD);
      for (const e of errors.rows) {
        expect(e).toMatchObject({ table_name: 'public.run_logs', run_name: 'bad' });
        expect(e.reason).toMatch(/data\.x/);
      }
    },
  );
});

describe('a shard that failed an attempt and then completed', () => {
  it('shows no error once completed; the failure stays in its history', async () => {
    const url = await migratedDatabase('guards_shard_error');
    await withClient(url, async (c) => {
      const run = await createRun(c, {
        name: 'retried',
        table: RUN_LOGS,
        eventIdVersion: 1,
        fromId: 1n,
        toId: 100n,
        order: 'asc',
        shardRows: 100,
        planner: 'test',
        estimatedRows: 100,
        settings: RUN_SETTINGS_DEFAULTS,
        shards: [{ shardNo: 0, fromId: 1n, toId: 100n, estimatedRows: 100 }],
        queueName: (id) => `guards-${id}`,
      });
      expect(await claimShard(c, run.id, 0, 'w1')).toMatchObject({ status: 'running' });
      const failed = await failShard(c, {
        runId: run.id,
        shardNo: 0,
        worker: 'w1',
        errorClass: 'BatchTimeoutError',
        message: 'kept timing out',
        final: false,
      });
      // The error is there while the shard waits for its retry, so clearing it below means something.
      expect(failed).toMatchObject({
        status: 'queued',
        lastError: 'kept timing out',
        lastErrorClass: 'BatchTimeoutError',
      });
      expect(await claimShard(c, run.id, 0, 'w2')).toMatchObject({ status: 'running' });
      const done = await completeShard(c, run.id, 0, 'w2');
      expect(done.runCompleted).toBe(true);
      expect(await getShard(c, run.id, 0)).toMatchObject({
        status: 'completed',
        lastError: null,
        lastErrorClass: null,
      });
      const { rows } = await c.query(
        `SELECT from_status, to_status, worker, error_class, message FROM backfill_shard_events
          WHERE run_id = $1 AND shard_no = 0 AND error_class IS NOT NULL`,
        [run.id],
      );
      expect(rows).toEqual([
        {
          from_status: 'running',
          to_status: 'queued',
          worker: 'w1',
          error_class: 'BatchTimeoutError',
          message: 'kept timing out',
        },
      ]);
    });
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const planNodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(planNodes)];

describe('the remaining-NULL count', () => {
  it('runs a statement the planner answers from the event_id index, not a table scan', async () => {
    const rows = 50_000;
    const nulls = 100;
    const url = await seeded('null_plan', rows);
    await withClient(url, async (c) => {
      // Mid-run: most rows filled, the rest still NULL, statistics current.
      await c.query(`UPDATE run_logs SET event_id = 'e-' || id WHERE id <= $1`, [rows - nulls]);
      await c.query('VACUUM ANALYZE run_logs');
    });
    const query = nullCountQuery(RUN_LOGS, 1n, BigInt(rows));
    // Without the session's enable_seqscan = off: the index has to win on cost for this text as it is,
    // and a statement that cannot use it at all (a wrapped column, say) plans a Seq Scan.
    const plan = await withClient(url, async (c) => {
      const r = await c.query({ text: `EXPLAIN (FORMAT JSON) ${query.text}`, values: query.values });
      return r.rows[0]['QUERY PLAN'][0].Plan as PlanNode;
    });
    const nodes = planNodes(plan);
    expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
    expect(nodes.map((n) => n['Index Name'])).toContain(EVENT_ID_INDEX_NAME);
    expect(await withClient(url, (c) => countRemainingNulls(c, RUN_LOGS, 1n, BigInt(rows)))).toBe(nulls);
  });
});
