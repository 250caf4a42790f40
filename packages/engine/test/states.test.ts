// The run and shard state tables: every pair of states, and the ledger refusing what the table refuses.
import {
  assertRunTransition,
  assertShardTransition,
  canTransitionRun,
  canTransitionShard,
  createRun,
  FINISHED_RUN_STATUSES,
  IllegalTransitionError,
  RUN_STATUSES,
  RUN_TRANSITIONS,
  type RunStatus,
  runStatusesInto,
  SHARD_STATUSES,
  SHARD_TRANSITIONS,
  type ShardStatus,
  shardStatusesInto,
  TERMINAL_RUN_STATUSES,
  TERMINAL_SHARD_STATUSES,
  transitionRun,
  UNFINISHED_SHARD_STATUSES,
} from '@backfill/engine/ledger';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import { describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';

// The rollout's state machines as a reader states them; the code's tables must say exactly this.
const EXPECTED_RUN: Record<RunStatus, RunStatus[]> = {
  running: ['paused', 'completed', 'failed', 'cancelled', 'finalized'],
  paused: ['running', 'completed', 'failed', 'cancelled', 'finalized'],
  completed: ['running', 'finalized'],
  failed: ['running', 'cancelled', 'finalized'],
  cancelled: [],
  finalized: [],
};
const EXPECTED_SHARD: Record<ShardStatus, ShardStatus[]> = {
  queued: ['running', 'queued', 'completed', 'failed', 'split', 'cancelled'],
  running: ['running', 'queued', 'completed', 'failed', 'split', 'cancelled'],
  failed: ['running', 'queued', 'completed', 'split', 'cancelled'],
  completed: [],
  split: [],
  cancelled: [],
};

describe('run state table', () => {
  it('has a row for every state and targets only known states', () => {
    expect(Object.keys(RUN_TRANSITIONS).sort()).toEqual([...RUN_STATUSES].sort());
    for (const targets of Object.values(RUN_TRANSITIONS)) {
      for (const t of targets) expect(RUN_STATUSES).toContain(t);
    }
  });

  for (const from of RUN_STATUSES) {
    for (const to of RUN_STATUSES) {
      const allowed = EXPECTED_RUN[from].includes(to);
      it(`${from} → ${to}: ${allowed ? 'allowed' : 'refused'}`, () => {
        expect(canTransitionRun(from, to)).toBe(allowed);
        if (allowed) expect(() => assertRunTransition('run "r"', from, to)).not.toThrow();
        else {
          const err = (() => {
            try {
              assertRunTransition('run "r"', from, to);
            } catch (e) {
              return e;
            }
          })();
          expect(err).toBeInstanceOf(IllegalTransitionError);
          expect((err as IllegalTransitionError).kind).toBe('conflict');
          expect((err as Error).message).toBe(`run "r" cannot go from ${from} to ${to}`);
        }
      });
    }
  }

  it('derives its sets from the table', () => {
    expect([...TERMINAL_RUN_STATUSES].sort()).toEqual(['cancelled', 'finalized']);
    expect(FINISHED_RUN_STATUSES).toEqual(['completed', 'failed', 'cancelled', 'finalized']);
    expect(runStatusesInto('finalized').sort()).toEqual(['completed', 'failed', 'paused', 'running']);
  });
});

describe('shard state table', () => {
  it('has a row for every state and targets only known states', () => {
    expect(Object.keys(SHARD_TRANSITIONS).sort()).toEqual([...SHARD_STATUSES].sort());
  });

  for (const from of SHARD_STATUSES) {
    for (const to of SHARD_STATUSES) {
      const allowed = EXPECTED_SHARD[from].includes(to);
      it(`${from} → ${to}: ${allowed ? 'allowed' : 'refused'}`, () => {
        expect(canTransitionShard(from, to)).toBe(allowed);
        const attempt = () => assertShardTransition('shard 3 of run 1', from, to);
        if (allowed) expect(attempt).not.toThrow();
        else expect(attempt).toThrow(`shard 3 of run 1 cannot go from ${from} to ${to}`);
      });
    }
  }

  it('derives its sets from the table', () => {
    expect([...TERMINAL_SHARD_STATUSES].sort()).toEqual(['cancelled', 'completed', 'split']);
    expect([...UNFINISHED_SHARD_STATUSES].sort()).toEqual(['failed', 'queued', 'running']);
    expect(shardStatusesInto('cancelled').sort()).toEqual([...UNFINISHED_SHARD_STATUSES].sort());
  });
});

describe('the ledger enforces the run table', () => {
  it('refuses a transition the table does not allow, names both states, and changes nothing', async () => {
    const url = await migratedDatabase('states_ledger');
    await withClient(url, async (c) => {
      const run = await createRun(c, {
        name: 'st',
        table: { schema: 'public', name: 'run_logs' },
        eventIdVersion: 1,
        fromId: 1n,
        toId: 10n,
        order: 'asc',
        shardRows: 10,
        planner: 'test',
        estimatedRows: 10,
        settings: RUN_SETTINGS_DEFAULTS,
        shards: [{ shardNo: 0, fromId: 1n, toId: 10n, estimatedRows: 10 }],
        queueName: (id) => `q-${id}`,
      });
      expect(run.queue).toBe(`q-${run.id}`);
      const runId = run.id;
      const paused = await transitionRun(c, runId, 'paused');
      expect(paused.status).toBe('paused');
      expect(paused.finishedAt).toBeNull();
      const cancelled = await transitionRun(c, runId, 'cancelled');
      expect(cancelled.finishedAt).toBeInstanceOf(Date);
      await expect(transitionRun(c, runId, 'running')).rejects.toThrow(
        'run "st" cannot go from cancelled to running',
      );
      const after = await c.query('SELECT status, finished_at FROM backfill_runs WHERE id = $1', [runId]);
      expect(after.rows[0].status).toBe('cancelled');
      expect(after.rows[0].finished_at).toEqual(cancelled.finishedAt);
      // A transaction was left neither open nor aborted.
      expect((await c.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    });
  });
});
