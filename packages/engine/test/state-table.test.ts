// The run and shard state machines as the operator guide (README.md) states them must be what the ledger
// enforces; and the named sets and predicates the control plane and the status read model rely on.
// (states.test.ts checks every pair against the table as written there, and the ledger refusing.)
import { readFileSync } from 'node:fs';
import {
  ACTIVE_RUN_STATUSES,
  assertRunTransition,
  assertShardTransition,
  canTransitionRun,
  canTransitionShard,
  FINISHED_RUN_STATUSES,
  IllegalTransitionError,
  isActiveRun,
  isFinishedRun,
  isSucceededRun,
  isTerminalShard,
  PENDING_SHARD_STATUSES,
  RUN_STATUSES,
  type RunStatus,
  runStatusesInto,
  SHARD_STATUSES,
  type ShardStatus,
  SUCCEEDED_RUN_STATUSES,
  shardStatusesInto,
  TERMINAL_RUN_STATUSES,
  TERMINAL_SHARD_STATUSES,
  UNFINISHED_SHARD_STATUSES,
} from '@backfill/engine/ledger';
import { describe, expect, it } from 'vitest';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/**
 * The README table whose header's first cell is `entity` ("run", "shard"): state → targets. A row may
 * name several states ("cancelled, finalized"); "— (terminal)" means none; "(…)" are explanations.
 */
function readmeTable(entity: string): Record<string, string[]> {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^\\|\\s*${entity}\\s*\\|\\s*may become\\s*\\|`).test(l));
  if (start < 0) throw new Error(`README.md has no "| ${entity} | may become |" table`);
  const table: Record<string, string[]> = {};
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [from, to] = line
      .split('|')
      .slice(1, 3)
      .map((c) => c.replace(/\([^)]*\)/g, '').trim());
    const targets = to === '—' ? [] : to!.split(',').map((s) => s.trim());
    for (const state of from!.split(',')) table[state.trim()] = targets;
  }
  return table;
}

function codeTable<S extends string>(states: readonly S[], can: (from: S, to: S) => boolean) {
  return Object.fromEntries(states.map((from) => [from, states.filter((to) => can(from, to))]));
}

const sorted = (t: Record<string, string[]>) =>
  Object.fromEntries(
    Object.entries(t)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, [...v].sort()]),
  );

describe('the README state tables', () => {
  it('run: every state, and exactly the transitions the ledger allows', () => {
    expect(sorted(readmeTable('run'))).toEqual(sorted(codeTable(RUN_STATUSES, canTransitionRun)));
  });

  it('shard: every state, and exactly the transitions the ledger allows', () => {
    expect(sorted(readmeTable('shard'))).toEqual(sorted(codeTable(SHARD_STATUSES, canTransitionShard)));
  });
});

describe('named sets and predicates', () => {
  it('runs: active, finished, succeeded, terminal', () => {
    expect([...ACTIVE_RUN_STATUSES].sort()).toEqual(['paused', 'running']);
    expect([...FINISHED_RUN_STATUSES].sort()).toEqual(['cancelled', 'completed', 'failed', 'finalized']);
    expect([...SUCCEEDED_RUN_STATUSES].sort()).toEqual(['completed', 'finalized']);
    expect([...TERMINAL_RUN_STATUSES].sort()).toEqual(['cancelled', 'finalized']);
    for (const s of RUN_STATUSES) {
      expect(isActiveRun(s), s).toBe(ACTIVE_RUN_STATUSES.includes(s));
      expect(isFinishedRun(s), s).toBe(FINISHED_RUN_STATUSES.includes(s));
      expect(isSucceededRun(s), s).toBe(SUCCEEDED_RUN_STATUSES.includes(s));
      // A run is either being worked on or finished, never both.
      expect(isActiveRun(s) !== isFinishedRun(s), s).toBe(true);
    }
  });

  it('shards: unfinished, pending, terminal', () => {
    expect([...UNFINISHED_SHARD_STATUSES].sort()).toEqual(['failed', 'queued', 'running']);
    expect([...PENDING_SHARD_STATUSES].sort()).toEqual(['queued', 'running']);
    expect([...TERMINAL_SHARD_STATUSES].sort()).toEqual(['cancelled', 'completed', 'split']);
    for (const s of SHARD_STATUSES) {
      expect(isTerminalShard(s), s).toBe(TERMINAL_SHARD_STATUSES.includes(s));
      // Terminal means no way out; unfinished means not terminal.
      expect(isTerminalShard(s), s).toBe(SHARD_STATUSES.every((to) => !canTransitionShard(s, to)));
      expect(UNFINISHED_SHARD_STATUSES.includes(s), s).toBe(!isTerminalShard(s));
    }
  });

  it('the states a run or shard may enter a state from (the guards of status UPDATEs)', () => {
    for (const to of RUN_STATUSES) {
      expect(runStatusesInto(to), to).toEqual(RUN_STATUSES.filter((from) => canTransitionRun(from, to)));
    }
    for (const to of SHARD_STATUSES) {
      expect(shardStatusesInto(to), to).toEqual(
        SHARD_STATUSES.filter((from) => canTransitionShard(from, to)),
      );
    }
    expect(runStatusesInto('running')).toEqual(['paused', 'completed', 'failed']);
    expect(shardStatusesInto('queued')).toEqual(['queued', 'running', 'failed']);
  });
});

describe('assertRunTransition / assertShardTransition', () => {
  it('let every allowed transition through', () => {
    for (const from of RUN_STATUSES) {
      for (const to of RUN_STATUSES.filter((t) => canTransitionRun(from, t))) {
        expect(() => assertRunTransition('run "r"', from, to), `${from} → ${to}`).not.toThrow();
      }
    }
    for (const from of SHARD_STATUSES) {
      for (const to of SHARD_STATUSES.filter((t) => canTransitionShard(from, t))) {
        expect(() => assertShardTransition('shard 0 of run 1', from, to), `${from} → ${to}`).not.toThrow();
      }
    }
  });
});

describe('IllegalTransitionError', () => {
  const refusal = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      return err as IllegalTransitionError;
    }
    throw new Error('expected the transition to be refused');
  };

  it('names the entity and both states, as a conflict', () => {
    const run = refusal(() => assertRunTransition('run "eid-1"', 'finalized' as RunStatus, 'running'));
    expect(run).toBeInstanceOf(IllegalTransitionError);
    expect(run).toMatchObject({
      name: 'IllegalTransitionError',
      kind: 'conflict',
      retryable: false,
      entity: 'run "eid-1"',
      from: 'finalized',
      to: 'running',
      message: 'run "eid-1" cannot go from finalized to running',
    });
    const shard = refusal(() => assertShardTransition('shard 2 of run 7', 'split' as ShardStatus, 'queued'));
    expect(shard).toMatchObject({ entity: 'shard 2 of run 7', from: 'split', to: 'queued' });
  });
});
