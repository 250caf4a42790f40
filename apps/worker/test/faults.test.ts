// What the README promises about permanent faults in the distributed mode, end to end: a bad row or a
// wrong schema fails its shard at once (one attempt, whatever --attempts says), `--on-bad-row=skip`
// records bad rows and completes, and `retry NAME --shard N` resumes a failed shard from its checkpoint.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { removeRedisKeys } from '../../../test-support/distributed.js';
import {
  rowsDone,
  startFleet,
  stopFleet,
  WHOLE_SHARD_FLAGS,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-faults-${process.pid}`;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// A jsonb number beyond the double range: JSON.parse makes it Infinity, which event-id v1 refuses.
const BAD_DATA = `'{"x": 1e400}'::jsonb`;

async function prepared(name: string, rows: number): Promise<{ url: string; env: Record<string, string> }> {
  const url = await migratedDatabase(`faults_${name}`);
  await seedLegacyRows(url, rows);
  return { url, env: { DATABASE_URL: url, REDIS_URL, QUEUE_PREFIX: PREFIX } };
}

async function start(env: Record<string, string>, name: string, args: string[]) {
  const res = await runCli(['start', '--name', name, '--commit', '--json', ...args], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as { run: { id: number; queue: string; toId: string } };
}

interface ShardState {
  shard_no: number;
  from_id: string;
  to_id: string;
  status: string;
  attempts: number;
  checkpoint_id: string | null;
  rows_updated: number;
  rows_skipped: number;
  last_error_class: string | null;
  last_error: string | null;
}

const shardsOf = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query<ShardState>(
      `SELECT shard_no, from_id::text, to_id::text, status, attempts, checkpoint_id::text,
              rows_updated::int, rows_skipped::int, last_error_class, last_error
         FROM backfill_shards ORDER BY shard_no`,
    );
    return rows;
  });

const eventsOf = (url: string, shardNo: number) =>
  withClient(url, async (c) => {
    const { rows } = await c.query<{
      from_status: string | null;
      to_status: string;
      worker: string | null;
      error_class: string | null;
      message: string | null;
    }>(
      `SELECT from_status, to_status, worker, error_class, message
         FROM backfill_shard_events WHERE shard_no = $1 ORDER BY id`,
      [shardNo],
    );
    return rows;
  });

const shardHolding = (shards: ShardState[], id: number) =>
  shards.find((s) => Number(s.from_id) <= id && id <= Number(s.to_id))!;

/** The BullMQ job of a shard: its state and how many attempts BullMQ made. */
async function jobOf(queueName: string, runId: number, shardNo: number) {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection: redis, prefix: PREFIX });
  try {
    // The state first, then the job: read the other way round, a job that failed in between showed its
    // state as failed with the attempts it had while still active.
    const id = `run-${runId}-shard-${shardNo}`;
    const state = await queue.getJobState(id);
    const job = await queue.getJob(id);
    return { state, attemptsMade: job?.attemptsMade };
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

/**
 * Each shard job's state and attempts as first seen failed. Watched from before the fleet starts: once
 * the run is failed, the fleet's reconciler may clear its queue at any moment.
 */
function watchFailedJobs(queueName: string, runId: number, shardNos: number[]) {
  const seen = new Map<number, Awaited<ReturnType<typeof jobOf>>>();
  const watched = waitFor(
    'the shard jobs to fail',
    async () => {
      for (const n of shardNos) {
        if (seen.has(n)) continue;
        const job = await jobOf(queueName, runId, n);
        if (job.state === 'failed' && job.attemptsMade !== undefined) seen.set(n, job);
      }
      return seen.size === shardNos.length && seen;
    },
    120_000,
    50,
  );
  watched.catch(() => {});
  return watched;
}

/** The worker's 'shard claimed' log lines, parsed. */
function claims(logs: string[]): Array<{ shardNo: number; checkpointId: string | null; worker: string }> {
  return logs
    .join('')
    .split('\n')
    .flatMap((l) => {
      try {
        const j = JSON.parse(l);
        return j.msg === 'shard claimed' ? [j] : [];
      } catch {
        return [];
      }
    });
}

describe('distributed mode: permanent faults', { timeout: 300_000 }, () => {
  it('a bad row fails its shard at once (one attempt, not --attempts), with its class and message in status and the events; retry --shard N resumes it from its checkpoint', async () => {
    const { url, env } = await prepared('bad_row', 30_000);
    const BAD_ID = 15_250;
    await withClient(url, (c) => c.query(`UPDATE run_logs SET data = ${BAD_DATA} WHERE id = $1`, [BAD_ID]));
    // --on-bad-row left at its default (fail); five attempts would be allowed for other faults.
    const started = await start(env, 'br', [
      '--shard-rows',
      '10000',
      '--batch-size',
      '500',
      '--attempts',
      '5',
      '--backoff',
      '100ms',
    ]);
    const badShardNo = shardHolding(await shardsOf(url), BAD_ID).shard_no;
    const failedJobs = watchFailedJobs(started.run.queue, started.run.id, [badShardNo]);
    const fleet = startFleet(1, env, WHOLE_SHARD_FLAGS);
    try {
      await waitForRunStatus(url, 'br', 'failed', 120_000);
      const shards = await shardsOf(url);
      const bad = shardHolding(shards, BAD_ID);
      expect(shards.filter((s) => s !== bad).map((s) => s.status)).toEqual(['completed', 'completed']);
      expect(bad).toMatchObject({ status: 'failed', attempts: 1, last_error_class: 'BadRowError' });
      expect(bad.last_error).toMatch(new RegExp(`^row id ${BAD_ID}: data\\.x`));
      // The batches before the bad row's committed: the shard keeps a checkpoint short of it.
      const checkpoint = Number(bad.checkpoint_id);
      expect(checkpoint).toBeGreaterThan(Number(bad.from_id));
      expect(checkpoint).toBeLessThan(BAD_ID);

      const events = await eventsOf(url, bad.shard_no);
      expect(events.map((e) => `${e.from_status}→${e.to_status}`)).toEqual([
        'queued→running',
        'running→failed',
      ]);
      expect(events[1]).toMatchObject({ error_class: 'BadRowError' });
      expect(events[1]!.message).toBe(bad.last_error);
      // BullMQ was told not to try again (UnrecoverableError), not merely out-raced by the assertions.
      expect((await failedJobs).get(bad.shard_no)).toEqual({ state: 'failed', attemptsMade: 1 });

      const status = await runCli(['status', 'br'], env);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/run br \[failed\]/);
      expect(status.stdout).toMatch(/2 completed, 0 running, 0 queued, 1 failed/);
      expect(status.stdout).toContain(
        `✗ shard ${bad.shard_no} failed after 1 attempts: BadRowError row id ${BAD_ID}: data.x`,
      );
      expect(status.stdout).toMatch(
        new RegExp(`! \\S+ shard ${bad.shard_no} → failed: BadRowError: row id ${BAD_ID}: data\\.x`),
      );

      // A probe below the checkpoint: a retry that re-read the shard from its start would fill it.
      const probe = Number(bad.from_id);
      await withClient(url, (c) => c.query('UPDATE run_logs SET event_id = NULL WHERE id = $1', [probe]));
      // The operator repairs the row and retries that one shard.
      await withClient(url, (c) =>
        c.query(`UPDATE run_logs SET data = '{"x": 1}'::jsonb WHERE id = $1`, [BAD_ID]),
      );
      const retried = await runCli(['retry', 'br', '--shard', String(bad.shard_no)], env);
      expect(retried.code, retried.stderr).toBe(0);
      expect(retried.stdout).toMatch(new RegExp(`requeued shards ${bad.shard_no} of run br`));
      await waitForRunStatus(url, 'br', 'completed', 120_000);
      const again = claims(fleet.logs).filter((c) => c.shardNo === bad.shard_no);
      expect(again).toHaveLength(2);
      expect(again[1]!.checkpointId).toBe(String(checkpoint)); // not from the shard's start
      const after = shardHolding(await shardsOf(url), BAD_ID);
      expect(after).toMatchObject({ status: 'completed', attempts: 2, last_error: null });
      const probed = await withClient(url, (c) =>
        c.query('SELECT event_id FROM run_logs WHERE id = $1', [probe]),
      );
      expect(probed.rows[0].event_id).toBeNull();
    } finally {
      await stopFleet(fleet);
    }
    expect(await rowsDone(url)).toBe(30_000); // the retried shard's rows counted once
    const verify = await runCli(['verify', '--full', '--to-id', String(started.run.toId), '--json'], env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ matches: 30_000 - 1, mismatches: 0, nullCount: 1 });
  });

  it('start --on-bad-row=skip: bad rows go to backfill_errors, count in rows_skipped, show in status, and the run completes', async () => {
    const { url, env } = await prepared('skip', 30_000);
    const BAD_IDS = [5000, 15_000, 25_000, 25_001];
    await withClient(url, (c) =>
      c.query(`UPDATE run_logs SET data = ${BAD_DATA} WHERE id = ANY($1::bigint[])`, [BAD_IDS]),
    );
    await start(env, 'sk', ['--shard-rows', '10000', '--batch-size', '1000', '--on-bad-row', 'skip']);
    const fleet = startFleet(1, env, WHOLE_SHARD_FLAGS);
    try {
      await waitForRunStatus(url, 'sk', 'completed', 120_000);
    } finally {
      await stopFleet(fleet);
    }
    const errors = await withClient(url, (c) =>
      c.query('SELECT table_name, row_id::int, reason, run_name FROM backfill_errors ORDER BY row_id'),
    );
    expect(errors.rows.map((r) => r.row_id)).toEqual(BAD_IDS);
    for (const e of errors.rows) {
      expect(e).toMatchObject({ table_name: 'public.run_logs', run_name: 'sk' });
      expect(e.reason).toMatch(/^data\.x/);
    }
    const shards = await shardsOf(url);
    expect(shards.every((s) => s.status === 'completed')).toBe(true);
    for (const s of shards) {
      const inShard = BAD_IDS.filter((id) => Number(s.from_id) <= id && id <= Number(s.to_id)).length;
      expect(s.rows_skipped, `shard ${s.shard_no}`).toBe(inShard);
    }
    expect(await rowsDone(url)).toBe(30_000 - BAD_IDS.length);
    const nulls = await withClient(url, (c) =>
      c.query('SELECT id::int FROM run_logs WHERE event_id IS NULL ORDER BY id'),
    );
    expect(nulls.rows.map((r) => r.id)).toEqual(BAD_IDS); // left NULL, everything else written
    const status = await runCli(['status', 'sk'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/run sk \[completed\]/);
    expect(status.stdout).toMatch(/rows: 29,996 of ~\S+ \(100\.0%\), 4 bad rows skipped/);
  });

  // A column event-id reads (or the one it writes) changed under a running run: no attempt can succeed.
  // A missing column or a wrong type reaches the worker as pg's DatabaseError (SQLSTATE 42703 / 42804):
  // it must be named a SchemaError and fail the shard at once, not be retried --attempts times.
  it.each([
    {
      key: 'drop_data',
      what: 'the data column dropped',
      ddl: 'ALTER TABLE run_logs DROP COLUMN data',
      mentions: /data/,
    },
    {
      key: 'retype_event_id',
      what: 'event_id retyped to integer',
      ddl: 'ALTER TABLE run_logs ALTER COLUMN event_id TYPE integer USING NULL',
      mentions: /event_id/,
    },
  ])('a wrong schema after start ($what) fails every shard at once', async ({ key, ddl, mentions }) => {
    const { url, env } = await prepared(`schema_${key}`, 20_000);
    const started = await start(env, 'ws', [
      '--shard-rows',
      '10000',
      '--batch-size',
      '1000',
      '--attempts',
      '3',
      '--backoff',
      '100ms',
    ]);
    await withClient(url, (c) => c.query(ddl));
    const shardNos = (await shardsOf(url)).map((s) => s.shard_no);
    const failedJobs = watchFailedJobs(started.run.queue, started.run.id, shardNos);
    const fleet = startFleet(1, env, WHOLE_SHARD_FLAGS);
    try {
      // At once, this takes seconds; after the 3 attempts too: the assertions below tell which.
      await waitForRunStatus(url, 'ws', 'failed', 60_000);
    } finally {
      await stopFleet(fleet);
    }
    const shards = await shardsOf(url);
    expect(shards).toHaveLength(2);
    for (const s of shards) {
      expect(s, `shard ${s.shard_no}`).toMatchObject({ status: 'failed', attempts: 1, rows_updated: 0 });
      expect(s.last_error_class).toBe('SchemaError');
      expect(s.last_error).toMatch(mentions);
      const events = await eventsOf(url, s.shard_no);
      expect(events.map((e) => `${e.from_status}→${e.to_status}`)).toEqual([
        'queued→running',
        'running→failed',
      ]);
      expect((await failedJobs).get(s.shard_no)).toEqual({ state: 'failed', attemptsMade: 1 });
    }
  });
});

afterAll(async () => {
  await removeRedisKeys(PREFIX, REDIS_URL);
});
