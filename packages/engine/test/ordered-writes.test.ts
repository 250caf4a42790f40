// A shard written by two connections at once: the data work overlaps, but batches commit (and move the
// shard's checkpoint) strictly in order, so a crash or a failed batch never leaves rows behind it.
import { processRange, verifyRange } from '@backfill/engine/backfill';
import { RUN_LOGS } from '@backfill/engine/db';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { type CapturedLogger, captureLogger } from '../../../test-support/logger.js';
import { insertRunningShard, seedLegacyRows } from '../../../test-support/seed.js';

const { logger } = captureLogger('warn');
const ROWS = 10_000;

async function shardDb(name: string): Promise<string> {
  const url = await migratedDatabase(`ordered_${name}`);
  await seedLegacyRows(url, ROWS);
  await insertRunningShard(url, { name: 'o', runToId: ROWS, shardToId: ROWS });
  return url;
}

async function processShard(
  url: string,
  extra: { lockTimeoutMs?: number; cursor?: bigint; logger?: CapturedLogger['logger'] } = {},
) {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  try {
    return await processRange({
      pool,
      table: RUN_LOGS,
      cursor: 0n,
      toId: BigInt(ROWS),
      batchSize: 1000,
      commit: true,
      onBadRow: 'fail',
      shard: { runId: 1, shardNo: 0 },
      writeDepth: 2,
      logger,
      ...extra,
    });
  } finally {
    await pool.end();
  }
}

const ledger = (url: string) =>
  withClient(url, (c) =>
    c
      .query(
        'SELECT checkpoint_id::text AS checkpoint, rows_updated::int AS rows, batches FROM backfill_shards',
      )
      .then((r) => r.rows[0]),
  );

const filledAbove = (url: string, id: number) =>
  withClient(url, (c) =>
    c
      .query('SELECT count(*)::int AS n FROM run_logs WHERE id > $1 AND event_id IS NOT NULL', [id])
      .then((r) => r.rows[0].n as number),
  );

describe('a shard with two writers', () => {
  it('fills every row and books every batch once, checkpoint at the end', async () => {
    const url = await shardDb('basic');
    const r = await processShard(url);
    expect(r).toMatchObject({ complete: true, rowsUpdated: ROWS, batches: 10 });
    expect(await ledger(url)).toEqual({ checkpoint: String(ROWS), rows: ROWS, batches: 10 });
    const v = await verifyRange({ databaseUrl: url, mode: { full: true }, logger });
    expect(v).toMatchObject({ matches: ROWS, nullCount: 0, mismatches: 0 });
  });

  it('does not let a batch commit after the one before it failed', async () => {
    const url = await shardDb('failure');
    // Batch 5 (ids 4001-5000) is slow and then fails; batch 6 finishes its UPDATE meanwhile on the
    // other connection. Committing it would move the checkpoint past batch 5's NULL rows.
    await withClient(url, (c) =>
      c.query(`CREATE FUNCTION fail_4500() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                 IF NEW.id = 4500 THEN PERFORM pg_sleep(0.5); RAISE EXCEPTION 'injected failure'; END IF;
                 RETURN NEW;
               END $$;
               CREATE TRIGGER fail_4500 BEFORE UPDATE ON run_logs FOR EACH ROW EXECUTE FUNCTION fail_4500();`),
    );
    await expect(processShard(url)).rejects.toThrow(/injected failure/);
    expect(await ledger(url)).toEqual({ checkpoint: '4000', rows: 4000, batches: 4 });
    expect(await filledAbove(url, 4000)).toBe(0);
    // Resuming from the checkpoint, once the fault is gone, finishes exactly.
    await withClient(url, (c) => c.query('DROP TRIGGER fail_4500 ON run_logs'));
    const r = await processShard(url, { cursor: 4000n });
    expect(r).toMatchObject({ complete: true, rowsUpdated: ROWS - 4000 });
    expect(await ledger(url)).toEqual({ checkpoint: String(ROWS), rows: ROWS, batches: 10 });
  });

  it('retries a timed-out batch in halves while the next waits its turn', async () => {
    const url = await shardDb('timeout');
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM run_logs WHERE id = 4500 FOR UPDATE');
    const { logger: l, lines } = captureLogger('warn');
    let settled = false;
    const processing = processShard(url, { lockTimeoutMs: 100, logger: l }).finally(() => {
      settled = true;
    });
    processing.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    try {
      // The lock goes only once batch 5 has lost to it, so the shard can only finish through the retry.
      await waitFor(
        'a batch to time out on the locked row',
        async () => settled || lines.some((x) => /timed out: retrying in halves/.test(String(x.msg))),
        60_000,
      );
      await holder.query('COMMIT');
      const r = await processing;
      expect(r.complete).toBe(true);
      expect(r.retries).toBeGreaterThan(0);
      expect(r.rowsUpdated).toBe(ROWS);
    } finally {
      await holder.end();
    }
    const shard = await ledger(url);
    expect(shard.checkpoint).toBe(String(ROWS));
    expect(shard.rows).toBe(ROWS);
    const v = await verifyRange({ databaseUrl: url, mode: { full: true }, logger });
    expect(v).toMatchObject({ matches: ROWS, nullCount: 0, mismatches: 0 });
  });
});
