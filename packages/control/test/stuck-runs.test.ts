// No run can get stuck: states in which the ledger and the queue disagree, or nothing moves the run
// forward, each made on purpose, then resolved by the control plane (the reconciler, settle on every
// transition that can finish a run, concurrent splits, finalize). No worker processes: the control
// functions are called directly, and a BullMQ Worker in this process stands in for a worker that died.
import {
  type ControlContext,
  closeControl,
  finalizeRun,
  openControl,
  pauseRun,
  reconcileAll,
  recoverRun,
  resumeRun,
  runQueueName,
  shardJobId,
  startRun,
} from '@backfill/control';
import { BadRowError } from '@backfill/engine/errors';
import { claimShard, completeShard, getRun, splitShard } from '@backfill/engine/ledger';
import { createLogger } from '@backfill/engine/logger';
import { RUN_SETTINGS_DEFAULTS, type RunSettings } from '@backfill/shared/settings';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { REDIS_URL, removeRedisKeys } from '../../../test-support/distributed.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-stuck-${process.pid}`;
const logger = createLogger({ level: 'silent' });
const contexts: ControlContext[] = [];
afterAll(async () => {
  for (const c of contexts) await closeControl(c);
  await removeRedisKeys(PREFIX);
});

async function fixture(name: string, rows: number, shardRows: number, settings: Partial<RunSettings> = {}) {
  const url = await migratedDatabase(`stuck_${name}`);
  await seedLegacyRows(url, rows);
  const ctx = await openControl({ databaseUrl: url, redisUrl: REDIS_URL, prefix: PREFIX, logger });
  contexts.push(ctx);
  const started = await startRun(ctx, {
    name,
    shardRows,
    order: 'asc',
    method: 'keyset',
    analyze: false,
    settings: { ...RUN_SETTINGS_DEFAULTS, ...settings },
    commit: true,
  });
  return { url, ctx, run: started.run! };
}

const shards = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      'SELECT shard_no AS "shardNo", status, worker, epoch, from_id::text AS "fromId", to_id::text AS "toId" FROM backfill_shards ORDER BY shard_no',
    );
    return rows as Array<{
      shardNo: number;
      status: string;
      worker: string | null;
      epoch: number;
      fromId: string;
      toId: string;
    }>;
  });

const runStatus = async (ctx: ControlContext, name: string) => (await getRun(ctx.db, name))!.status;

describe('runs that used to get stuck', { timeout: 120_000 }, () => {
  it('ledger running, BullMQ failed (a worker died past maxStalledCount): recover retries the job and requeues the shard, truthfully', async () => {
    const { url, ctx, run } = await fixture('failed_job', 2000, 1000);
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const ghost = new Worker(runQueueName(run), null, { connection, prefix: PREFIX, autorun: false });
    try {
      // A worker takes shard 0's job and claims the shard, then its job fails with no ledger write.
      const job = await ghost.getNextJob('ghost-token');
      expect(job?.data).toEqual({ runId: run.id, shardNo: 0 });
      await claimShard(ctx.db, run.id, 0, 'ghost');
      // Failed for good, as a stall past maxStalledCount is, whatever attempts are left.
      await job!.moveToFailed(
        new UnrecoverableError('job stalled more than allowable limit'),
        'ghost-token',
        false,
      );
      expect(await job!.getState()).toBe('failed');
      // Shard 1's job is gone too (a partial flush).
      const queue = new Queue(runQueueName(run), { connection, prefix: PREFIX });
      await (await queue.getJob(shardJobId(run.id, 1)))!.remove();

      const { report } = await recoverRun(ctx, run.name);
      expect(report).toMatchObject({ retried: [0], requeued: [0], added: [1], settled: null });
      expect(await queue.getJobState(shardJobId(run.id, 0))).toBe('waiting');
      expect(await queue.getJobState(shardJobId(run.id, 1))).toBe('waiting');
      expect((await shards(url)).map((s) => s.status)).toEqual(['queued', 'queued']);
      // Nothing is left to fix, and recover says so.
      const again = await recoverRun(ctx, run.name);
      expect(again.report).toMatchObject({ retried: [], requeued: [], added: [], settled: null });
      await queue.close();
    } finally {
      await ghost.close();
      connection.disconnect();
    }
  });

  it('pause, the last shard ends, resume: the run is completed, not running with nothing to do', async () => {
    const { ctx, run } = await fixture('pause_last', 1000, 1000);
    const shard = await claimShard(ctx.db, run.id, 0, 'w1');
    await pauseRun(ctx, run.name);
    // The batch in flight was the shard's last: it completes while the run is paused.
    const done = await completeShard(ctx.db, run.id, 0, 'w1', shard!.epoch);
    expect(done.runCompleted).toBe(true);
    expect(await runStatus(ctx, run.name)).toBe('completed');
  });

  it('a paused run whose shards all finished is settled by resume, and by the reconciler', async () => {
    for (const via of ['resume', 'reconciler'] as const) {
      const { url, ctx, run } = await fixture(`paused_done_${via}`, 1000, 500);
      await pauseRun(ctx, run.name);
      // As an older version (or a lost settle) could leave it: every shard completed, the run paused.
      await withClient(url, (c) => c.query(`UPDATE backfill_shards SET status = 'completed'`));
      if (via === 'resume') expect((await resumeRun(ctx, run.name)).status).toBe('completed');
      else expect((await reconcileAll({ ...ctx, logger }))[0]?.settled).toBe('completed');
      expect(await runStatus(ctx, run.name)).toBe('completed');
    }
  });

  it('two shards split at once get distinct children that cover exactly what was left', async () => {
    const { url, ctx, run } = await fixture('split_race', 4000, 1000);
    const clients = await Promise.all(
      [0, 1].map(async () => {
        const c = new pg.Client({ connectionString: ctx.databaseUrl });
        await c.connect();
        return c;
      }),
    );
    try {
      let frontier = [0, 1, 2, 3];
      for (let round = 0; round < 3; round++) {
        const claimed = await Promise.all(frontier.map((no) => claimShard(ctx.db, run.id, no, 'w')));
        // Pairs of shards time out together, on two connections at once.
        const children: number[] = [];
        for (let i = 0; i < frontier.length; i += 2) {
          const pair = frontier.slice(i, i + 2);
          const split = await Promise.all(
            pair.map((no, k) => splitShard(clients[k]!, run.id, no, 'timed out', claimed[i + k]!.epoch)),
          );
          children.push(...split.flat().map((s) => s.shardNo));
        }
        expect(new Set(children).size).toBe(children.length);
        frontier = children;
      }
      // The queued leaves tile ids 1..4000 exactly: no gap, no overlap.
      const leaves = (await shards(url)).filter((s) => s.status === 'queued');
      leaves.sort((a, b) => Number(a.fromId) - Number(b.fromId));
      let next = 1;
      for (const s of leaves) {
        expect(Number(s.fromId)).toBe(next);
        next = Number(s.toId) + 1;
      }
      expect(next).toBe(4001);
    } finally {
      for (const c of clients) await c.end();
    }
  });

  it('a finished run has its queue removed from Redis by the reconciler; the ledger keeps the history', async () => {
    const { ctx, run } = await fixture('clear_queue', 1000, 1000);
    const shard = await claimShard(ctx.db, run.id, 0, 'w1');
    await completeShard(ctx.db, run.id, 0, 'w1', shard!.epoch);
    const redis = new Redis(REDIS_URL);
    const keys = () => redis.keys(`${PREFIX}:${runQueueName(run)}:*`);
    try {
      expect((await keys()).length).toBeGreaterThan(0);
      await reconcileAll({ ...ctx, logger });
      expect(await keys()).toEqual([]);
      expect((await getRun(ctx.db, run.name))!.queueClearedAt).not.toBeNull();
    } finally {
      redis.disconnect();
    }
  });
});

describe('finalize', { timeout: 120_000 }, () => {
  it('refuses a paused run (conflict) and claims nothing', async () => {
    const { url, ctx, run } = await fixture('fin_paused', 1000, 500);
    await pauseRun(ctx, run.name);
    await expect(finalizeRun(ctx, run.name, { sample: 10 })).rejects.toMatchObject({ kind: 'conflict' });
    expect((await shards(url)).every((s) => s.status === 'queued' && s.worker === null)).toBe(true);
  });

  it("keeps the run's rate cap", async () => {
    const { ctx, run } = await fixture('fin_cap', 6000, 3000, { maxRowsPerSecond: 2000, batchSize: 500 });
    const t0 = Date.now();
    const r = await finalizeRun(ctx, run.name, { sample: 100 });
    expect(r.rowsUpdatedInline).toBe(6000);
    // 6,000 rows at 2,000 rows/s: at least 2 s after the first second's burst.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
  });

  it('never leaves a claim behind: a shard it stopped on goes back to the queue with its checkpoint', async () => {
    const { url, ctx, run } = await fixture('fin_claim', 2000, 1000, { batchSize: 200 });
    await withClient(url, (c) =>
      c.query(`UPDATE run_logs SET data = '{"big": 1e400}'::jsonb WHERE id = 1500`),
    );
    await expect(finalizeRun(ctx, run.name, { sample: 10 })).rejects.toBeInstanceOf(BadRowError);
    const s = await shards(url);
    expect(s[0]!.status).toBe('completed');
    expect(s[1]).toMatchObject({ status: 'queued', worker: 'finalize' });
    const ck = await withClient(url, (c) =>
      c.query('SELECT checkpoint_id::int AS ck FROM backfill_shards WHERE shard_no = 1'),
    );
    expect(ck.rows[0].ck).toBe(1400); // the batches before the bad row's
  });

  it('processes NULLs left behind completed shards, and says which ranges', async () => {
    const { url, ctx, run } = await fixture('fin_leftovers', 3000, 1000);
    // Shard 1 is completed in the ledger while its rows are still NULL (rows committed behind it).
    await withClient(url, (c) =>
      c.query(`UPDATE backfill_shards SET status = 'completed' WHERE shard_no = 1`),
    );
    const r = await finalizeRun(ctx, run.name, { sample: 100 });
    expect(r.shardsFinishedInline).toBe(2);
    expect(r.leftoverRanges).toEqual([{ fromId: '1001', toId: '2000' }]);
    expect(r.verify.nullCount).toBe(0);
    expect(await runStatus(ctx, run.name)).toBe('finalized');
  });

  it('with bad rows skipped, fails naming them (backfill_errors) and the exact command; the run stays open', async () => {
    const { url, ctx, run } = await fixture('fin_bad', 2000, 1000, { onBadRow: 'skip' });
    await withClient(url, (c) =>
      c.query(`UPDATE run_logs SET data = '{"big": 1e400}'::jsonb WHERE id = 1234`),
    );
    await expect(finalizeRun(ctx, run.name, { sample: 10 })).rejects.toThrow(
      /1 rows .* still have no event_id .*backfill_errors\): id 1234 .*backfill run --commit --from-id 1234 --to-id 2000/,
    );
    expect(await runStatus(ctx, run.name)).toBe('completed');
  });
});
