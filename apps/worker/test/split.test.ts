// A shard whose batches keep timing out is split in two by the worker, the halves are queued, and the
// run still finishes exactly: a worker process, real Redis and PostgreSQL.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { distributedEnv, removeRedisKeys } from '../../../test-support/distributed.js';
import {
  rowsDone,
  startFleet,
  WHOLE_SHARD_FLAGS,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const ROWS = 20_000;
const PREFIX = `bft-split-${process.pid}`;

afterAll(() => removeRedisKeys(PREFIX));

describe('worker split', { timeout: 240_000 }, () => {
  it('splits a shard that keeps timing out, queues both halves, and completes the run exactly', async () => {
    const url = await migratedDatabase('worker_split');
    await seedLegacyRows(url, ROWS);
    const env = distributedEnv(url, PREFIX);
    const started = await runCli(
      [
        'start',
        '--name',
        'sp',
        '--commit',
        '--json',
        '--shard-rows',
        '10000',
        '--batch-size',
        '1000',
        '--lock-timeout',
        '50ms',
      ],
      env,
    );
    expect(started.code, started.stderr).toBe(0);
    // A row of the second shard stays locked: every write that touches it hits lock_timeout.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM run_logs WHERE id = 15500 FOR UPDATE');
    const fleet = startFleet(1, env, WHOLE_SHARD_FLAGS);
    try {
      const split = await waitFor(
        'the shard to be split',
        () =>
          withClient(url, async (c) => {
            const { rows } = await c.query(
              `SELECT shard_no, from_id::text, to_id::text, checkpoint_id::text, parent_shard_no, status
                 FROM backfill_shards ORDER BY shard_no`,
            );
            return rows.some((r) => r.status === 'split') ? rows : null;
          }),
        180_000,
      );
      await holder.query('COMMIT');
      const parent = split.find((s) => s.status === 'split')!;
      const children = split.filter((s) => s.parent_shard_no === parent.shard_no);
      expect(parent.shard_no).toBe(1);
      // Rows before the locked one were written (in ever smaller pieces) and checkpointed first.
      expect(Number(parent.checkpoint_id)).toBeGreaterThanOrEqual(15_000);
      expect(Number(parent.checkpoint_id)).toBeLessThan(15_500);
      // The halves cover exactly what was left of the parent.
      expect(children).toHaveLength(2);
      expect(children[0].from_id).toBe(String(Number(parent.checkpoint_id) + 1));
      expect(Number(children[1].from_id)).toBe(Number(children[0].to_id) + 1);
      expect(children[1].to_id).toBe(parent.to_id);
      await waitForRunStatus(url, 'sp', 'completed', 120_000);
    } finally {
      await holder.end().catch(() => {});
      await fleet.stopAll();
    }
    expect(fleet.logs.join('')).toMatch(/shard kept timing out: split in two/);
    expect(await rowsDone(url)).toBe(ROWS);
    const verify = await runCli(['verify', '--full', '--expect-complete', '--json'], env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
