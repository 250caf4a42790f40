// The index strategy: `migrate --index=auto` builds ix_run_logs_event_id at once for a small table and
// defers it for a large one (every backfill UPDATE of an indexed column costs a random btree insert);
// finalize then builds it concurrently, and it is valid.
import { closeControl, finalizeRun, openControl, startRun } from '@backfill/control';
import { RUN_LOGS } from '@backfill/engine/db';
import { createLogger } from '@backfill/engine/logger';
import { DEFAULT_LOCK_POLICY, eventIdIndexState, migrateUp } from '@backfill/engine/migrate';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, withClient } from '../../../test-support/db.js';
import { REDIS_URL, removeRedisKeys } from '../../../test-support/distributed.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-index-${process.pid}`;
const logger = createLogger({ level: 'silent' });
afterAll(() => removeRedisKeys(PREFIX));

/** A database with `rows` legacy rows in run_logs and no event_id index yet (as another tool left it). */
async function legacy(name: string, rows: number) {
  const url = await freshDatabase(`index_${name}`);
  await migrateUp({ databaseUrl: url, index: 'defer', logger, ...DEFAULT_LOCK_POLICY });
  await seedLegacyRows(url, rows);
  await withClient(url, (c) => c.query('ANALYZE run_logs'));
  return url;
}

const indexOf = (url: string) => withClient(url, (c) => eventIdIndexState(c, RUN_LOGS));

describe('the index strategy (migrate --index=auto)', { timeout: 120_000 }, () => {
  it('a small table gets the index at once', async () => {
    const url = await legacy('small', 2000);
    const r = await migrateUp({ databaseUrl: url, index: 'auto', logger, ...DEFAULT_LOCK_POLICY });
    expect(r.indexChoice).toMatchObject({ chose: 'concurrent', deferAboveRows: 1_000_000 });
    expect(r.indexChoice!.rows).toBeGreaterThan(1000);
    expect(r.index).toBe('built');
    expect(await indexOf(url)).toMatchObject({ exists: true, valid: true });
  });

  it('a large table defers it; finalize builds it concurrently once every row has its id, and it is valid', async () => {
    const url = await legacy('large', 20_000);
    const r = await migrateUp({
      databaseUrl: url,
      index: 'auto',
      deferAboveRows: 5000,
      logger,
      ...DEFAULT_LOCK_POLICY,
    });
    expect(r.indexChoice).toMatchObject({ chose: 'defer', deferAboveRows: 5000 });
    expect(r.index).toBe('deferred');
    expect(await indexOf(url)).toMatchObject({ exists: false });

    const ctx = await openControl({ databaseUrl: url, redisUrl: REDIS_URL, prefix: PREFIX, logger });
    try {
      await startRun(ctx, {
        name: 'big',
        shardRows: 5000,
        order: 'asc',
        method: 'keyset',
        analyze: false,
        settings: RUN_SETTINGS_DEFAULTS,
        commit: true,
      });
      const fin = await finalizeRun(ctx, 'big', { sample: 100 });
      expect(fin.rowsUpdatedInline).toBe(20_000);
      expect(fin.verify.nullCount).toBe(0);
      expect(fin.index).toBe('built');
    } finally {
      await closeControl(ctx);
    }
    expect(await indexOf(url)).toMatchObject({ exists: true, valid: true });
  });
});
