// Query plans on production shapes: a table whose old columns are analyzed and whose new event_id is
// not (the state right after `migrate`), and one fully backfilled but for a few rows. The backfill's
// statements must walk the primary key whatever event_id's statistics say, or each batch costs as much
// as every NULL left in the table (quadratic). Each statement is EXPLAINed exactly as the code sends it.

import { insertDemoRows } from '@backfill/demo-data';
import {
  batchUpdateStatement,
  EventIdColumn,
  eventIdHasStatistics,
  readBatchSelect,
  runBackfill,
} from '@backfill/engine/backfill';
import { createPool, RUN_LOGS } from '@backfill/engine/db';
import { DEFAULT_LOCK_POLICY, migrateUp } from '@backfill/engine/migrate';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, withClient } from '../../../test-support/db.js';
import { captureLogger } from '../../../test-support/logger.js';

const ROWS = 200_000;
const { logger } = captureLogger('warn');

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

async function planOf(c: pg.ClientBase, text: string, values: unknown[] = []): Promise<PlanNode[]> {
  const { rows } = await c.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
  const nodes: PlanNode[] = [];
  const walk = (n: PlanNode) => {
    nodes.push(n);
    for (const child of n.Plans ?? []) walk(child);
  };
  walk(rows[0]['QUERY PLAN'][0].Plan);
  return nodes;
}

const describePlan = (nodes: PlanNode[]) =>
  nodes.map((n) => `${n['Node Type']}${n['Index Name'] ? ` (${n['Index Name']})` : ''}`).join(' → ');

/** The table is reached through its primary key only: no event_id index, no scan of the whole table. */
function expectPrimaryKeyWalk(nodes: PlanNode[]): void {
  const onTable = nodes.filter((n) => n['Relation Name'] === 'run_logs' || n['Index Name']);
  expect(onTable.length, describePlan(nodes)).toBeGreaterThan(0);
  for (const n of onTable) {
    expect(n['Node Type'], describePlan(nodes)).toMatch(/^(Index Scan|Index Only Scan|ModifyTable)$/);
    if (n['Index Name']) expect(n['Index Name'], describePlan(nodes)).toBe('run_logs_pkey');
  }
  expect(
    nodes.some((n) => n['Node Type'] === 'Sort'),
    describePlan(nodes),
  ).toBe(false);
}

async function forgetEventIdStatistics(c: pg.ClientBase): Promise<void> {
  await c.query(
    `DELETE FROM pg_statistic WHERE starelid = 'run_logs'::regclass
        AND staattnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'run_logs'::regclass AND attname = 'event_id')`,
  );
}

const batchIds = (from: number, n: number) => Array.from({ length: n }, (_, i) => String(from + i));
function idColumn(n: number): EventIdColumn {
  const col = EventIdColumn.withCapacity(n);
  for (let i = 0; i < n; i++) col.push('00000000-0000-5000-8000-000000000000');
  return col;
}

let url: string;
beforeAll(async () => {
  url = await freshDatabase('plans');
  const pool = createPool(url, { max: 1 });
  try {
    await insertDemoRows(pool, { rows: ROWS });
  } finally {
    await pool.end();
  }
  await withClient(url, (c) => c.query('ANALYZE run_logs'));
  await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...DEFAULT_LOCK_POLICY });
}, 180_000);

describe('right after migrate', () => {
  it('migrate gives the new column planner statistics', async () => {
    await withClient(url, async (c) => expect(await eventIdHasStatistics(c, RUN_LOGS)).toBe(true));
  });
});

describe('event_id without statistics, old columns analyzed', () => {
  beforeAll(() => withClient(url, forgetEventIdStatistics));

  it('the trap is real here: a plain `event_id IS NULL` read goes through ix_run_logs_event_id', async () => {
    await withClient(url, async (c) => {
      const nodes = await planOf(
        c,
        'SELECT id FROM run_logs WHERE id > $1 AND id <= $2 AND event_id IS NULL ORDER BY id LIMIT $3',
        ['0', String(ROWS), 5000],
      );
      expect(describePlan(nodes)).toContain('ix_run_logs_event_id');
    });
  });

  it('the batch read walks the primary key', async () => {
    await withClient(url, async (c) => {
      expectPrimaryKeyWalk(await planOf(c, readBatchSelect(RUN_LOGS, 0n, BigInt(ROWS), 5000)));
      expectPrimaryKeyWalk(await planOf(c, readBatchSelect(RUN_LOGS, 150000n, BigInt(ROWS), 5000)));
    });
  });

  it('the batch UPDATE joins the batch to a primary-key range', async () => {
    await withClient(url, async (c) => {
      const ids = batchIds(1001, 5000);
      const plain = batchUpdateStatement({
        table: RUN_LOGS,
        ids,
        eventIds: idColumn(ids.length),
        xmins: ids.map(() => '1000'),
      });
      const nodes = await planOf(c, plain.text, plain.values);
      expectPrimaryKeyWalk(nodes);
      expect(describePlan(nodes)).not.toContain('ix_run_logs_event_id');
      expect(nodes.some((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'run_logs')).toBe(
        false,
      );
    });
  });

  it('run warns that event_id has no statistics, and says how to fix it', async () => {
    const { logger: runLogger, lines } = captureLogger('warn');
    await runBackfill({
      databaseUrl: url,
      batchSize: 5000,
      toId: 10n,
      maxRowsPerSecond: 0,
      statementTimeoutMs: 30_000,
      lockTimeoutMs: 2000,
      onBadRow: 'fail',
      commit: false,
      logger: runLogger,
    });
    expect(lines.map((l) => l.msg).join('\n')).toMatch(/event_id has no planner statistics.*ANALYZE/);
  });
});

describe('fully backfilled but for a few rows, analyzed', () => {
  beforeAll(() =>
    withClient(url, async (c) => {
      await c.query(`UPDATE run_logs SET event_id = md5(id::text) WHERE id % 1000 <> 0`);
      await c.query('VACUUM ANALYZE run_logs');
    }),
  );

  it('the batch read and UPDATE still walk the primary key', async () => {
    await withClient(url, async (c) => {
      expectPrimaryKeyWalk(await planOf(c, readBatchSelect(RUN_LOGS, 0n, BigInt(ROWS), 5000)));
      const ids = batchIds(1000, 200).map((id, i) => String(Number(id) + i * 999));
      const stmt = batchUpdateStatement({
        table: RUN_LOGS,
        ids,
        eventIds: idColumn(ids.length),
        xmins: ids.map(() => '1000'),
      });
      expectPrimaryKeyWalk(await planOf(c, stmt.text, stmt.values));
    });
  });
});
