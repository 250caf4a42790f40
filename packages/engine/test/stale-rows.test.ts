// A row edited between its batch's read and its UPDATE must not get the id of its old content: the
// UPDATE checks the row version it read (xmin), and rows that moved are read again under a lock and
// written from what they hold now, in the same run, and counted.
import { processRange } from '@backfill/engine/backfill';
import { createPool, RUN_LOGS } from '@backfill/engine/db';
import { eventId } from '@backfill/shared/event-id';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { captureLogger } from '../../../test-support/logger.js';
import { insertRunningShard, seedLegacyRows } from '../../../test-support/seed.js';

const { logger } = captureLogger('warn');

/** Until a session of the database waits on a row lock (the backfill's UPDATE behind the editor). */
const waitForLockWait = (url: string, database: string) =>
  waitFor('the backfill UPDATE to wait on the edited row', () =>
    withClient(url, async (c) => {
      const { rows } = await c.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'
            AND (query LIKE 'UPDATE%' OR query LIKE 'SELECT backfill_apply_batch%')`,
        [database],
      );
      return rows.length > 0;
    }),
  );

async function editWhileTheBatchRuns(
  url: string,
  opts: { writeDepth: number; shard: boolean; edit: number },
) {
  const database = new URL(url).pathname.slice(1);
  const editor = new pg.Client({ connectionString: url });
  await editor.connect();
  const pool = createPool(url, { max: 4 });
  try {
    await editor.query('BEGIN');
    await editor.query(`UPDATE run_logs SET message = 'edited while the batch ran' WHERE id = $1`, [
      opts.edit,
    ]);
    const range = processRange({
      pool,
      table: RUN_LOGS,
      cursor: 0n,
      toId: 300n,
      batchSize: 100,
      commit: true,
      onBadRow: 'fail',
      writeDepth: opts.writeDepth,
      lockTimeoutMs: 60_000,
      statementTimeoutMs: 60_000,
      ...(opts.shard ? { shard: { runId: 1, shardNo: 0 } } : {}),
      logger,
    });
    await waitForLockWait(url, database);
    await editor.query('COMMIT');
    return await range;
  } finally {
    await editor.end();
    await pool.end();
  }
}

async function expectEveryIdCurrent(url: string) {
  const { rows } = await withClient(url, (c) =>
    c.query('SELECT * FROM run_logs WHERE id <= 300 ORDER BY id'),
  );
  const wrong = rows.filter((r) => r.event_id !== eventId(r)).map((r) => r.id);
  expect(wrong, 'rows whose event_id is not the id of what they hold').toEqual([]);
}

describe('a row edited while its batch runs', () => {
  let url: string;
  beforeAll(async () => {
    url = await migratedDatabase('stale_rows');
  });
  afterAll(() => {});

  for (const [writeDepth, shard] of [
    [1, false],
    [1, true],
    [2, true],
  ] as const) {
    it(`gets the id of its new content (${writeDepth} writer${writeDepth > 1 ? 's' : ''}, ${shard ? 'with' : 'without'} a shard ledger)`, async () => {
      await withClient(url, async (c) => {
        await c.query('TRUNCATE run_logs RESTART IDENTITY; TRUNCATE backfill_runs CASCADE');
      });
      await seedLegacyRows(url, 300);
      if (shard) await insertRunningShard(url, { name: 'stale', runToId: 300, shardToId: 300 });
      const edit = 142;
      const r = await editWhileTheBatchRuns(url, { writeDepth, shard, edit });
      expect(r.complete).toBe(true);
      expect(r.rowsUpdated).toBe(300);
      expect(r.rowsRewritten).toBe(1);
      await expectEveryIdCurrent(url);
      if (shard) {
        const ledger = await withClient(url, (c) =>
          c.query('SELECT checkpoint_id::int AS ck, rows_updated::int AS n FROM backfill_shards'),
        );
        expect(ledger.rows[0]).toEqual({ ck: 300, n: 300 });
      }
    });
  }
});
