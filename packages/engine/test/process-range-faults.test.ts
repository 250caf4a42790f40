// processRange under faults that hit one batch while others go through: the cursor it returns must stay
// behind every row still NULL, and the batch size a lock fight cost must come back.
import { type BatchReport, processRange, verifyRange } from '@backfill/engine/backfill';
import { createPool, RUN_LOGS } from '@backfill/engine/db';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { captureLogger } from '../../../test-support/logger.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const { logger } = captureLogger('warn');
const BATCH = 1000;

async function seededDb(name: string, rows: number): Promise<string> {
  const url = await migratedDatabase(`range_faults_${name}`);
  await seedLegacyRows(url, rows);
  return url;
}

/** A session holding one row's lock in an open transaction, as an application transaction would. */
async function lockRow(url: string, id: number): Promise<{ pid: number; release: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  await holder.query('BEGIN');
  await holder.query('SELECT id FROM run_logs WHERE id = $1 FOR UPDATE', [id]);
  let released = false;
  return {
    pid,
    release: async () => {
      if (released) return;
      released = true;
      await holder.query('ROLLBACK');
      await holder.end();
    },
  };
}

const firstNullId = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query<{ id: string | null }>(
      'SELECT min(id)::text AS id FROM run_logs WHERE event_id IS NULL',
    );
    return rows[0]!.id === null ? null : BigInt(rows[0]!.id);
  });

const nullCount = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM run_logs WHERE event_id IS NULL',
    );
    return rows[0]!.n;
  });

describe('two writers without a shard ledger (`backfill run`): one write fails, the next commits', () => {
  it('returns a cursor behind the failed batch, and a run from that cursor completes every row', async () => {
    const ROWS = 10_000;
    const url = await seededDb('skip', ROWS);
    // Batch 5 (ids 4001-5000) waits on this lock; batch 6 goes to the other writer and commits on its
    // own (no ledger: no commit order between writers). Then batch 5's backend is terminated.
    const lock = await lockRow(url, 4500);
    const pool = createPool(url, { max: 4 });
    let terminated = false;
    try {
      const first = processRange({
        pool,
        table: RUN_LOGS,
        cursor: 0n,
        toId: BigInt(ROWS),
        batchSize: BATCH,
        commit: true,
        onBadRow: 'fail',
        writeDepth: 2,
        // No timeouts: batch 5 waits for the lock until it is terminated, whatever the machine's speed.
        lockTimeoutMs: 0,
        statementTimeoutMs: 0,
        // Once the fault is handled (reconnected, about to resume), stop: the cursor is what a resume sees.
        gate: async () => (terminated ? 'stop' : 'go'),
        logger,
      });
      first.catch(() => {}); // awaited below; the wait may throw first
      const blocked = await waitFor('batch 5 waiting on the lock while batch 6 has committed', () =>
        withClient(url, async (c) => {
          const waiting = await c.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
              WHERE datname = current_database() AND $1::int = ANY (pg_blocking_pids(pid))`,
            [lock.pid],
          );
          const batch6 = await c.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM run_logs WHERE id BETWEEN 5001 AND 6000 AND event_id IS NOT NULL',
          );
          return waiting.rows.length === 1 && batch6.rows[0]!.n === BATCH ? waiting.rows[0]!.pid : null;
        }),
      );
      terminated = true;
      await withClient(url, (c) => c.query('SELECT pg_terminate_backend($1)', [blocked]));
      const r = await first;
      expect(r).toMatchObject({ complete: false, stoppedBy: 'gate' });
      expect(r.retries).toBeGreaterThan(0);
      // Batch 6 committed after batch 5 failed: booking it would move the cursor over batch 5's rows.
      const hole = await firstNullId(url);
      expect(hole).toBe(4001n);
      expect(r.cursor).toBeLessThan(hole!);
      expect(r.cursor).toBe(4000n);

      await lock.release();
      const left = await nullCount(url);
      const second = await processRange({
        pool,
        table: RUN_LOGS,
        cursor: r.cursor,
        toId: BigInt(ROWS),
        batchSize: BATCH,
        commit: true,
        onBadRow: 'fail',
        writeDepth: 2,
        logger,
      });
      expect(second).toMatchObject({ complete: true, rowsUpdated: left });
    } finally {
      await lock.release();
      await pool.end();
    }
    const v = await verifyRange({ databaseUrl: url, mode: { full: true }, logger });
    expect(v).toMatchObject({ rowsChecked: ROWS, matches: ROWS, nullCount: 0, mismatches: 0 });
  });
});

describe('batch size after lock timeouts', () => {
  it('halves while a row lock is held, then grows back to the configured size', async () => {
    const ROWS = 40_000;
    const url = await seededDb('recover', ROWS);
    const lock = await lockRow(url, 1500);
    const { logger: l, lines } = captureLogger('warn');
    const sizes: number[] = [];
    const pool = createPool(url, { max: 2 });
    try {
      const run = processRange({
        pool,
        table: RUN_LOGS,
        cursor: 0n,
        toId: BigInt(ROWS),
        batchSize: BATCH,
        commit: true,
        onBadRow: 'fail',
        lockTimeoutMs: 100,
        onBatch: (b: BatchReport) => sizes.push(b.batchSize),
        logger: l,
      });
      run.catch(() => {}); // awaited below; the wait may throw first
      await waitFor('a batch write to time out on the lock', async () =>
        lines.some((x) => /batch write timed out/.test(String(x.msg))),
      );
      await lock.release();
      const r = await run;
      expect(r).toMatchObject({ complete: true, rowsUpdated: ROWS });
      expect(r.retries).toBeGreaterThan(0);
    } finally {
      await lock.release();
      await pool.end();
    }
    const firstSmaller = sizes.findIndex((s) => s < BATCH);
    expect(firstSmaller, `batch sizes: ${sizes.join(',')}`).toBeGreaterThan(0);
    expect(sizes.slice(firstSmaller), `batch sizes: ${sizes.join(',')}`).toContain(BATCH);
    expect(sizes.at(-1)).toBe(BATCH);
  });
});
