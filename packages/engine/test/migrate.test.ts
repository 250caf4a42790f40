import { RUN_LOGS } from '@backfill/engine/db';
import { LockTimeoutError, SchemaError } from '@backfill/engine/errors';
import {
  DEFAULT_LOCK_POLICY,
  eventIdIndexState,
  migrateDown,
  migrateUp,
  tableColumns,
} from '@backfill/engine/migrate';
import { EVENT_ID_INDEX_NAME } from '@backfill/shared';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freshDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { captureLogger } from '../../../test-support/logger.js';

const LEGACY_DDL = `CREATE TABLE run_logs (
  id bigserial PRIMARY KEY, run_id uuid NOT NULL, "timestamp" timestamptz NOT NULL DEFAULT now(),
  level text NOT NULL DEFAULT 'info', event_type text NOT NULL, message text, data jsonb)`;

const SEED_ROWS = `INSERT INTO run_logs (run_id, event_type, message, data)
  SELECT gen_random_uuid(), 'log.line', 'row ' || g, jsonb_build_object('n', g) FROM generate_series(1, $1::int) g`;

const fast = { ...DEFAULT_LOCK_POLICY, lockTimeoutMs: 200, indexLockTimeoutMs: 2000, attempts: 20 };

async function columnsOf(url: string) {
  return withClient(url, (c) => tableColumns(c, RUN_LOGS));
}

async function indexOf(url: string) {
  return withClient(url, (c) => eventIdIndexState(c, RUN_LOGS));
}

describe('migrate', () => {
  const dbs: string[] = [];
  const db = async (name: string) => {
    const url = await freshDatabase(`migrate_${name}`);
    dbs.push(url);
    return url;
  };

  it('brings an empty database to head, then is a no-op', async () => {
    const url = await db('empty');
    const { logger } = captureLogger();
    const first = await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast });
    expect(first.applied).toEqual([
      '0000_baseline_run_logs',
      '0001_ledger',
      '0002_event_id',
      '0003_run_queue',
      '0004_shard_epoch',
      '0005_queue_cleared',
      '0006_live_settings_gates',
      '0007_postgres_queues',
      '0008_apply_batch_function',
    ]);
    expect(first.index).toBe('built');
    const cols = await columnsOf(url);
    expect(cols.get('event_id')?.type).toBe('character varying');
    expect(await indexOf(url)).toMatchObject({ exists: true, valid: true });
    const second = await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast });
    expect(second.applied).toEqual([]);
    expect(second.index).toBe('already-valid');
    const tables = await withClient(url, (c) =>
      c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`),
    );
    expect(tables.rows.map((r) => r.tablename)).toEqual([
      'backfill_errors',
      'backfill_rate_budget',
      'backfill_rate_seconds',
      'backfill_run_events',
      'backfill_runs',
      'backfill_shard_events',
      'backfill_shards',
      'backfill_workers',
      'run_logs',
    ]);
  });

  it('migrates a populated legacy table while another connection keeps inserting', async () => {
    const url = await db('populated');
    await withClient(url, async (c) => {
      await c.query(LEGACY_DDL);
      await c.query(SEED_ROWS, [50_000]);
    });
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    let stop = false;
    let inserted = 0;
    const failures: unknown[] = [];
    const writing = (async () => {
      while (!stop) {
        try {
          await writer.query(
            `INSERT INTO run_logs (run_id, event_type, message) VALUES (gen_random_uuid(), 'app', 'live')`,
          );
          inserted++;
        } catch (err) {
          failures.push(err);
        }
      }
    })();
    try {
      const { logger } = captureLogger();
      const report = await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast });
      expect(report.applied).toContain('0002_event_id');
      expect(report.index).toBe('built');
      // One more insert on the migrated table: the write path goes on working after the migration too.
      const triedBefore = inserted + failures.length;
      await waitFor(
        'an insert after the migration',
        async () => inserted + failures.length > triedBefore,
        30_000,
      );
    } finally {
      stop = true;
      await writing;
      await writer.end();
    }
    expect(failures).toEqual([]);
    expect(inserted).toBeGreaterThan(0);
    expect(await indexOf(url)).toMatchObject({ exists: true, valid: true });
    const count = await withClient(url, (c) => c.query('SELECT count(*)::int AS n FROM run_logs'));
    expect(count.rows[0].n).toBe(50_000 + inserted);
  });

  it('waits within lock_timeout per try while a transaction holds a lock, and succeeds once released', async () => {
    const url = await db('lock_released');
    await withClient(url, (c) => c.query(LEGACY_DDL));
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM run_logs'); // ACCESS SHARE: blocks ALTER TABLE
    const { logger, lines } = captureLogger();
    const lockWaits = () =>
      lines.filter((l) => l.level === 40 && /lock not available within 200ms/.test(l.msg ?? ''));
    let settled = false;
    const migrating = migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast }).finally(() => {
      settled = true;
    });
    migrating.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    try {
      // Released only after a try has timed out, so the success has to come from a later try.
      await waitFor(
        'a try to time out on the held lock',
        async () => settled || lockWaits().length > 0,
        60_000,
      );
      await holder.query('COMMIT');
      const report = await migrating;
      expect(report.applied).toContain('0002_event_id');
      const waits = lockWaits();
      expect(waits.length).toBeGreaterThan(0);
    } finally {
      await holder.end();
    }
    expect((await columnsOf(url)).has('event_id')).toBe(true);
  });

  it('fails with a clear message after its tries when the lock is never released, changing nothing', async () => {
    const url = await db('lock_held');
    await withClient(url, (c) => c.query(LEGACY_DDL));
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM run_logs');
    try {
      const { logger } = captureLogger();
      const attempt = migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast, attempts: 3 });
      await expect(attempt).rejects.toBeInstanceOf(LockTimeoutError);
      await expect(attempt).rejects.toThrow(/3 tries.*pg_stat_activity/);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect((await columnsOf(url)).has('event_id')).toBe(false);
  });

  it('detects an INVALID index left by a failed concurrent build and rebuilds it', async () => {
    const url = await db('invalid_index');
    const { logger, lines } = captureLogger();
    await migrateUp({ databaseUrl: url, index: 'defer', logger, ...fast });
    await withClient(url, async (c) => {
      await c.query(SEED_ROWS, [100]);
      await c.query(`UPDATE run_logs SET event_id = 'dup'`);
      // A unique concurrent build over duplicates fails and leaves an invalid index behind.
      await expect(
        c.query(`CREATE UNIQUE INDEX CONCURRENTLY ${EVENT_ID_INDEX_NAME} ON run_logs (event_id)`),
      ).rejects.toThrow(/could not create unique index/);
    });
    expect(await indexOf(url)).toMatchObject({ exists: true, valid: false });
    const report = await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast });
    expect(report.index).toBe('rebuilt-invalid');
    const state = await indexOf(url);
    expect(state).toMatchObject({ exists: true, valid: true });
    expect(state.definition).not.toMatch(/UNIQUE/);
    expect(lines.some((l) => /is INVALID/.test(l.msg ?? ''))).toBe(true);
  });

  it('rolls back with --down (plan only without --yes), then migrates up again', async () => {
    const url = await db('down_up');
    const { logger } = captureLogger();
    await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast });
    await withClient(url, (c) => c.query(SEED_ROWS, [1000]));

    const preview = await migrateDown({ databaseUrl: url, execute: false, logger, ...fast });
    expect(preview.executed).toBe(false);
    expect(preview.plan.length).toBe(3);
    expect((await columnsOf(url)).has('event_id')).toBe(true);

    const down = await migrateDown({ databaseUrl: url, execute: true, logger, ...fast });
    expect(down.executed).toBe(true);
    expect((await columnsOf(url)).has('event_id')).toBe(false);
    expect(await indexOf(url)).toMatchObject({ exists: false });

    const again = await migrateDown({ databaseUrl: url, execute: true, logger, ...fast });
    expect(again.plan).toEqual([]);

    const up = await migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast });
    expect(up.applied).toEqual([
      '0002_event_id',
      '0003_run_queue',
      '0004_shard_epoch',
      '0005_queue_cleared',
      '0006_live_settings_gates',
      '0007_postgres_queues',
      '0008_apply_batch_function',
    ]);
    expect(up.index).toBe('built');
    const count = await withClient(url, (c) => c.query('SELECT count(*)::int AS n FROM run_logs'));
    expect(count.rows[0].n).toBe(1000);
  });

  it('refuses a table without the columns event-id reads, writing nothing', async () => {
    const url = await db('bad_shape');
    await withClient(url, (c) =>
      c.query('CREATE TABLE run_logs (id bigserial PRIMARY KEY, run_id uuid, message text)'),
    );
    const { logger } = captureLogger();
    const attempt = migrateUp({ databaseUrl: url, index: 'concurrent', logger, ...fast });
    await expect(attempt).rejects.toBeInstanceOf(SchemaError);
    await expect(attempt).rejects.toThrow(/missing column event_type/);
    const drizzleSchema = await withClient(url, (c) =>
      c.query(`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present`),
    );
    expect(drizzleSchema.rows[0].present).toBe(false);
  });

  it('accepts an existing text event_id with a warning and rejects a non-text one', async () => {
    const { logger } = captureLogger();
    const textUrl = await db('event_id_text');
    await withClient(textUrl, (c) => c.query(`${LEGACY_DDL}; ALTER TABLE run_logs ADD COLUMN event_id text`));
    const report = await migrateUp({ databaseUrl: textUrl, index: 'concurrent', logger, ...fast });
    expect(report.warnings.join()).toMatch(/event_id already exists as text/);

    const intUrl = await db('event_id_int');
    await withClient(intUrl, (c) =>
      c.query(`${LEGACY_DDL}; ALTER TABLE run_logs ADD COLUMN event_id integer`),
    );
    await expect(migrateUp({ databaseUrl: intUrl, index: 'concurrent', logger, ...fast })).rejects.toThrow(
      /event_id exists with type integer/,
    );
  });
});
