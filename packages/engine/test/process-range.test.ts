import { BatchTimeoutError, processRange, runBackfill, verifyRange } from '@backfill/engine/backfill';
import { RUN_LOGS } from '@backfill/engine/db';
import { BadRowError, ShardTakenOverError } from '@backfill/engine/errors';
import { splitShard } from '@backfill/engine/ledger';
import { eventId } from '@backfill/shared/event-id';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { captureLogger } from '../../../test-support/logger.js';
import { insertRunningShard, seedLegacyRows } from '../../../test-support/seed.js';

const { logger } = captureLogger('warn');

async function preparedDb(name: string, rows: number): Promise<string> {
  const url = await migratedDatabase(`range_${name}`);
  await seedLegacyRows(url, rows);
  return url;
}

const baseRun = {
  batchSize: 1000,
  maxRowsPerSecond: 0,
  statementTimeoutMs: 30_000,
  lockTimeoutMs: 2000,
  onBadRow: 'fail' as const,
  logger,
};

describe('runBackfill / processRange', () => {
  let url: string;
  beforeAll(async () => {
    url = await preparedDb('basic', 20_000);
  });

  it('fills every row with the id event-id v1 computes, in batches', async () => {
    const s = await runBackfill({ databaseUrl: url, commit: true, ...baseRun });
    expect(s.complete).toBe(true);
    expect(s.rowsUpdated).toBe(20_000);
    expect(s.batches).toBe(20);
    const rows = await withClient(url, (c) => c.query('SELECT * FROM run_logs ORDER BY id'));
    for (const row of rows.rows) expect(row.event_id).toBe(eventId(row));
    const again = await runBackfill({ databaseUrl: url, commit: true, ...baseRun });
    expect(again.rowsUpdated).toBe(0); // idempotent
    const v = await verifyRange({ databaseUrl: url, mode: { full: true }, logger });
    expect(v).toMatchObject({ rowsChecked: 20_000, matches: 20_000, mismatches: 0, nullCount: 0 });
  });

  it('never overwrites an id that is already there', async () => {
    const u = await preparedDb('no_overwrite', 3000);
    await withClient(u, (c) => c.query(`UPDATE run_logs SET event_id = 'app-wrote-this' WHERE id % 10 = 0`));
    const s = await runBackfill({ databaseUrl: u, commit: true, ...baseRun });
    expect(s.rowsUpdated).toBe(2700);
    const kept = await withClient(u, (c) =>
      c.query(`SELECT count(*)::int AS n FROM run_logs WHERE event_id = 'app-wrote-this'`),
    );
    expect(kept.rows[0].n).toBe(300);
    const v = await verifyRange({ databaseUrl: u, mode: { full: true }, logger });
    expect(v.mismatches).toBe(300);
    expect(v.firstMismatches[0]).toMatchObject({ id: '10', stored: 'app-wrote-this' });
  });

  it('stops at the next batch boundary when its signal aborts, and resumes exactly', async () => {
    const u = await preparedDb('abort', 10_000);
    const controller = new AbortController();
    const first = await runBackfill({
      databaseUrl: u,
      commit: true,
      ...baseRun,
      signal: controller.signal,
      onBatch: (b) => {
        if (b.lastId >= 3000n) controller.abort();
      },
    });
    expect(first.complete).toBe(false);
    expect(first.stoppedBy).toBe('signal');
    expect(first.rowsUpdated).toBeGreaterThanOrEqual(3000);
    expect(first.rowsUpdated).toBeLessThan(10_000);
    const second = await runBackfill({ databaseUrl: u, commit: true, ...baseRun, fromId: first.cursor + 1n });
    expect(first.rowsUpdated + second.rowsUpdated).toBe(10_000);
  });

  it('retries a batch that hits lock_timeout in smaller pieces after a backoff', async () => {
    const u = await preparedDb('lock_timeout', 4000);
    const holder = new pg.Client({ connectionString: u });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM run_logs WHERE id = 2500 FOR UPDATE');
    const { logger: l, lines } = captureLogger('warn');
    let settled = false;
    const running = runBackfill({
      databaseUrl: u,
      commit: true,
      ...baseRun,
      lockTimeoutMs: 100,
      logger: l,
    }).finally(() => {
      settled = true;
    });
    running.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    try {
      // The lock goes only once a batch has lost to it, so whatever finishes the run is the retry path.
      await waitFor(
        'a batch to time out on the locked row',
        async () => settled || lines.some((x) => /timed out: retrying in halves/.test(String(x.msg))),
        60_000,
      );
      await holder.query('COMMIT');
      const s = await running;
      expect(s.complete).toBe(true);
      expect(s.rowsUpdated).toBe(4000);
      expect(s.retries).toBeGreaterThan(0);
      expect(lines.some((x) => /timed out: retrying in halves/.test(String(x.msg)))).toBe(true);
    } finally {
      await holder.end();
    }
  });

  it('reconnects after pg_terminate_backend and finishes exactly', async () => {
    const u = await preparedDb('terminate', 30_000);
    const killer = new pg.Client({ connectionString: u });
    await killer.connect();
    let killed = 0;
    const s = await runBackfill({
      databaseUrl: u,
      commit: true,
      ...baseRun,
      onBatch: (b) => {
        if (b.lastId >= 10_000n && killed === 0) {
          killed = 1;
          void killer.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'backfill-run' AND datname = current_database()`,
          );
        }
      },
    });
    await killer.end();
    expect(killed).toBe(1);
    expect(s.complete).toBe(true);
    expect(s.retries).toBeGreaterThan(0);
    const v = await verifyRange({ databaseUrl: u, mode: { full: true }, logger });
    expect(v).toMatchObject({ matches: 30_000, nullCount: 0, mismatches: 0 });
  });

  it('handles bad rows per --on-bad-row: fail stops at the row, skip records it and goes on', async () => {
    const u = await preparedDb('bad_rows', 2000);
    await withClient(u, (c) =>
      c.query(`UPDATE run_logs SET data = '{"x": 1e400}'::jsonb WHERE id IN (500, 1500)`),
    );
    await expect(runBackfill({ databaseUrl: u, commit: true, ...baseRun })).rejects.toThrow(BadRowError);
    await expect(runBackfill({ databaseUrl: u, commit: true, ...baseRun })).rejects.toThrow(
      /row id 500: data\.x/,
    );
    const s = await runBackfill({ databaseUrl: u, commit: true, ...baseRun, onBadRow: 'skip' });
    expect(s.rowsSkipped).toBe(2);
    const errs = await withClient(u, (c) =>
      c.query('SELECT table_name, row_id::text, reason FROM backfill_errors ORDER BY backfill_errors.row_id'),
    );
    expect(errs.rows.map((r) => r.row_id)).toEqual(['500', '1500']);
    expect(errs.rows[0].table_name).toBe('public.run_logs');
    expect(errs.rows[0].reason).toMatch(/data\.x/);
    const v = await verifyRange({ databaseUrl: u, mode: { full: true }, logger });
    expect(v.nullCount).toBe(2);
    expect(v.matches).toBe(1998);
  });

  it('dry run computes but writes nothing', async () => {
    const u = await preparedDb('dry', 3000);
    const s = await runBackfill({ databaseUrl: u, commit: false, ...baseRun });
    expect(s.rowsUpdated).toBe(3000); // would update
    expect(s.sample.length).toBe(5);
    const n = await withClient(u, (c) =>
      c.query('SELECT count(*)::int AS n FROM run_logs WHERE event_id IS NOT NULL'),
    );
    expect(n.rows[0].n).toBe(0);
  });

  // One writer: each batch is one call of backfill_apply_batch (UPDATE and checkpoint server-side).
  // A ledger migrated before that function existed takes the transaction path, with the same result.
  for (const c of [
    { what: 'in one call per batch', dropFunction: false },
    { what: 'in a transaction per batch when backfill_apply_batch is missing', dropFunction: true },
  ]) {
    it(`processRange records each batch in the shard ledger with its UPDATE, ${c.what}`, async () => {
      const u = await preparedDb(`ledger_${c.dropFunction ? 'nofn' : 'fn'}`, 5000);
      await insertRunningShard(u, { name: 't', runToId: 5000, shardToId: 4000 });
      if (c.dropFunction) await withClient(u, (cl) => cl.query('DROP FUNCTION backfill_apply_batch'));
      // track_functions counts the function's calls (written when the sessions end).
      const pool = new pg.Pool({ connectionString: u, max: 2, options: '-c track_functions=pl' });
      try {
        const r = await processRange({
          pool,
          table: RUN_LOGS,
          cursor: 0n,
          toId: 4000n,
          batchSize: 1500,
          commit: true,
          onBadRow: 'fail',
          shard: { runId: 1, shardNo: 0 },
          logger,
        });
        expect(r).toMatchObject({ complete: true, rowsUpdated: 4000, batches: 3 });
      } finally {
        await pool.end();
      }
      const shard = await withClient(u, (cl) =>
        cl.query('SELECT checkpoint_id::text, rows_updated::int, batches FROM backfill_shards'),
      );
      expect(shard.rows[0]).toEqual({ checkpoint_id: '4000', rows_updated: 4000, batches: 3 });
      const calls = () =>
        withClient(u, (cl) =>
          cl.query(`SELECT coalesce(sum(calls), 0)::int AS n FROM pg_stat_user_functions
                     WHERE funcname = 'backfill_apply_batch'`),
        ).then((res) => res.rows[0].n as number);
      if (c.dropFunction) expect(await calls()).toBe(0);
      else await waitFor('three calls of backfill_apply_batch', async () => (await calls()) === 3, 10_000);
      expect(await filledCount(u)).toBe(4000);
    });
  }
});

describe('a shard claimed again by another worker (a newer epoch in the ledger)', () => {
  for (const writeDepth of [1, 2]) {
    it(`refuses the stale claim's first batch and writes nothing (${writeDepth} writer${writeDepth > 1 ? 's' : ''})`, async () => {
      const u = await preparedDb(`fenced_${writeDepth}`, 3000);
      await insertRunningShard(u, { name: 'f', runToId: 3000, shardToId: 3000 });
      await withClient(u, (c) => c.query('UPDATE backfill_shards SET epoch = 2'));
      const pool = new pg.Pool({ connectionString: u, max: 3 });
      try {
        const range = processRange({
          pool,
          table: RUN_LOGS,
          cursor: 0n,
          toId: 3000n,
          batchSize: 1000,
          commit: true,
          onBadRow: 'fail',
          writeDepth,
          shard: { runId: 1, shardNo: 0, epoch: 1 },
          logger,
        });
        await expect(range).rejects.toBeInstanceOf(ShardTakenOverError);
      } finally {
        await pool.end();
      }
      expect(await filledCount(u)).toBe(0);
      const shard = await withClient(u, (c) =>
        c.query('SELECT checkpoint_id, rows_updated::int AS n FROM backfill_shards'),
      );
      expect(shard.rows[0]).toEqual({ checkpoint_id: null, n: 0 });
    });
  }
});

const filledCount = (u: string) =>
  withClient(u, (c) => c.query('SELECT count(*)::int AS n FROM run_logs WHERE event_id IS NOT NULL')).then(
    (r) => r.rows[0].n as number,
  );

describe('shards that keep timing out', () => {
  it('give up with BatchTimeoutError after the retry budget, and split into two halves in the ledger', async () => {
    const u = await preparedDb('split', 2000);
    await insertRunningShard(u, { name: 's', runToId: 2000, shardToId: 2000, estimatedRows: 2000 });
    const holder = new pg.Client({ connectionString: u });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM run_logs WHERE id = 1500 FOR UPDATE');
    const pool = new pg.Pool({ connectionString: u, max: 2 });
    try {
      await expect(
        processRange({
          pool,
          table: RUN_LOGS,
          cursor: 0n,
          toId: 2000n,
          batchSize: 1000,
          commit: true,
          onBadRow: 'fail',
          shard: { runId: 1, shardNo: 0 },
          lockTimeoutMs: 50,
          maxRetries: 2,
          logger,
        }),
      ).rejects.toBeInstanceOf(BatchTimeoutError);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
      await pool.end();
    }
    let cp = 0n;
    const children = await withClient(u, async (c) => {
      cp = BigInt(
        (await c.query('SELECT checkpoint_id::text AS cp FROM backfill_shards WHERE shard_no = 0')).rows[0]
          .cp,
      );
      return splitShard(c, 1, 0, 'kept timing out');
    });
    // Everything before the locked row that could be written was (in ever smaller pieces), and checkpointed.
    expect(cp).toBeGreaterThanOrEqual(1000n);
    expect(cp).toBeLessThan(1500n);
    const mid = cp + 1n + (2000n - cp - 1n) / 2n;
    expect(children.map((s) => [s.shardNo, s.fromId, s.toId, s.parentShardNo])).toEqual([
      [1, cp + 1n, mid, 0],
      [2, mid + 1n, 2000n, 0],
    ]);
    const parent = await withClient(
      u,
      async (c) =>
        (await c.query('SELECT status, last_error_class FROM backfill_shards WHERE shard_no = 0')).rows[0],
    );
    expect(parent).toEqual({ status: 'split', last_error_class: 'BatchTimeoutError' });
  });
});
