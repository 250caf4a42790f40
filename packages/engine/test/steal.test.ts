// Work stealing in the ledger: what an idle worker may take from a running shard, and where it cuts.
// The owner has already read past its checkpoint (its write in flight and its batch read ahead), so
// that part is never offered: a stolen half inside it would only be a new shard with nothing to do.
import { createRun, stealHalfOfLargestShard } from '@backfill/engine/ledger';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';

/** A run of one running shard, ids 1..100,000, with its checkpoint and current batch size. */
async function runningShard(c: pg.Client, checkpoint: number | null, batchSize: number | null) {
  const run = await createRun(c, {
    name: `steal-${checkpoint}-${batchSize}`,
    table: { schema: 'public', name: 'run_logs' },
    eventIdVersion: 1,
    fromId: 1n,
    toId: 100_000n,
    order: 'asc',
    shardRows: 100_000,
    planner: 'test',
    estimatedRows: 100_000,
    settings: RUN_SETTINGS_DEFAULTS,
    shards: [{ shardNo: 0, fromId: 1n, toId: 100_000n, estimatedRows: 100_000 }],
    queueName: (id) => `q-${id}`,
  });
  await c.query(
    `UPDATE backfill_shards SET status = 'running', checkpoint_id = $2, batch_size = $3 WHERE run_id = $1`,
    [run.id, checkpoint, batchSize],
  );
  return run.id;
}

const shardsOf = (c: pg.Client, runId: number) =>
  c
    .query(
      `SELECT shard_no, from_id::int AS "from", to_id::int AS "to", status FROM backfill_shards
        WHERE run_id = $1 ORDER BY shard_no`,
      [runId],
    )
    .then((r) => r.rows);

describe('stealHalfOfLargestShard', () => {
  it('halves all the owner has left, its read-ahead included, so both finish together', async () => {
    const url = await migratedDatabase('steal_margin');
    await withClient(url, async (c) => {
      const runId = await runningShard(c, 30_000, 10_000);
      const split = await stealHalfOfLargestShard(c, runId, { minIds: 20_000n, aheadBatches: 2 });
      expect(split).not.toBeNull();
      // Past the checkpoint (30,000) the owner holds two batches of 10,000 (30,001..50,000) and has
      // 70,000 ids to go: each keeps 35,000. (Halving only 50,001..100,000 gave the owner 45,000.)
      expect(await shardsOf(c, runId)).toEqual([
        { shard_no: 0, from: 1, to: 65_000, status: 'running' },
        { shard_no: 1, from: 65_001, to: 100_000, status: 'queued' },
      ]);
    });
  });

  it('cuts no nearer than minIds/2 past the read-ahead (its batches may have grown)', async () => {
    const url = await migratedDatabase('steal_margin_min');
    await withClient(url, async (c) => {
      // 50,000 ids to go, 20,000 of them read ahead: the half (75,000) would leave 5,000 past the
      // read-ahead; the cut is at 70,000 + 10,000.
      const runId = await runningShard(c, 50_000, 10_000);
      expect(await stealHalfOfLargestShard(c, runId, { minIds: 20_000n, aheadBatches: 2 })).not.toBeNull();
      expect((await shardsOf(c, runId)).map((s) => [s.from, s.to])).toEqual([
        [1, 80_000],
        [80_001, 100_000],
      ]);
    });
  });

  it('leaves a shard whose rest its owner has nearly all read (it used to split it)', async () => {
    const url = await migratedDatabase('steal_margin_near_end');
    await withClient(url, async (c) => {
      // 30,000 ids left: enough for minIds alone, but 20,000 of them are the owner's read-ahead.
      const runId = await runningShard(c, 70_000, 10_000);
      expect(await stealHalfOfLargestShard(c, runId, { minIds: 20_000n, aheadBatches: 2 })).toBeNull();
      expect(await shardsOf(c, runId)).toEqual([{ shard_no: 0, from: 1, to: 100_000, status: 'running' }]);
      // With no read-ahead to allow for, the same shard is split at the middle of what is left.
      expect(await stealHalfOfLargestShard(c, runId, { minIds: 20_000n, aheadBatches: 0 })).not.toBeNull();
      expect((await shardsOf(c, runId)).map((s) => [s.from, s.to])).toEqual([
        [1, 85_000],
        [85_001, 100_000],
      ]);
    });
  });

  it('a shard with no checkpoint and no batch yet is measured from its first id', async () => {
    const url = await migratedDatabase('steal_margin_fresh');
    await withClient(url, async (c) => {
      const runId = await runningShard(c, null, null);
      expect(await stealHalfOfLargestShard(c, runId, { minIds: 20_000n, aheadBatches: 2 })).not.toBeNull();
      expect((await shardsOf(c, runId)).map((s) => [s.from, s.to])).toEqual([
        [1, 50_000],
        [50_001, 100_000],
      ]);
    });
  });
});
