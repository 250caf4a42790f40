// Throttling and database health with real worker processes: live settings (the rate cap shared by a
// fleet, changed while it runs), the panic switch, and the gates that hold a fleet — a real streaming
// standby whose replay is paused, a window that excludes now, an operator's SQL probe.
import { closeControl, startRun as controlStart, openControl } from '@backfill/control';
import { silentLogger } from '@backfill/engine/logger';
import { RUN_SETTINGS_DEFAULTS } from '@backfill/shared/settings';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import {
  distributedEnv,
  removeRedisKeys,
  startRun,
  verifyComplete,
} from '../../../test-support/distributed.js';
import {
  FAST_WORKER_FLAGS,
  type Fleet,
  rowsDone,
  startFleet,
  stopFleet,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';
import { seedLegacyRows } from '../../../test-support/seed.js';
import { type StandbyPair, startStandbyPair } from '../../../test-support/standby.js';

const PREFIX = `bft-throttle-${process.pid}`;
const fleets: Fleet[] = [];
let pair: StandbyPair | undefined;
afterEach(async () => {
  for (const f of fleets.splice(0)) await stopFleet(f, 15_000);
});
afterAll(async () => {
  await pair?.stop();
  await removeRedisKeys(PREFIX);
});

const fleet = (n: number, env: Record<string, string>) => {
  const f = startFleet(n, env, FAST_WORKER_FLAGS);
  fleets.push(f);
  return f;
};

async function status(env: Record<string, string>, name: string) {
  const res = await runCli(['status', name, '--json'], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

/** Rows written per second over `ms`, from the ledger (what committed). */
async function rateOver(url: string, ms: number): Promise<number> {
  const a = await rowsDone(url);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((await rowsDone(url)) - a) / ((Date.now() - t0) / 1000);
}

const FIXED = ['--target-batch-ms', '0'];

describe('throttling with a fleet', { timeout: 240_000 }, () => {
  it('a rate cap of 2,000 rows/s holds over 3 workers within ±15%; a live change to 4,000 shows within 5 s', async () => {
    const url = await migratedDatabase('throttle_rate');
    await seedLegacyRows(url, 80_000);
    const env = distributedEnv(url, `${PREFIX}-rate`);
    await startRun(env, 'rate', [
      '--shard-rows',
      '10000',
      '--batch-size',
      '200',
      ...FIXED,
      '--max-rows-per-second',
      '2000',
    ]);
    fleet(3, env);
    await waitFor('the fleet to write', async () => (await rowsDone(url)) >= 2000, 60_000);
    const capped = await rateOver(url, 6000);
    expect(capped).toBeGreaterThan(2000 * 0.85);
    expect(capped).toBeLessThan(2000 * 1.15);

    const set = await runCli(['set', 'rate', '--max-rows-per-second', '4000', '--json'], env);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout).changes).toEqual([{ key: 'maxRowsPerSecond', from: 2000, to: 4000 }]);
    const changedAt = Date.now();
    // The first second in which the fleet writes faster than the old cap allows.
    let seen = 0;
    await waitFor(
      'the new cap to show',
      async () => {
        if ((await rateOver(url, 1000)) > 2000 * 1.3) seen = Date.now();
        return seen > 0;
      },
      15_000,
      0,
    );
    expect(seen - changedAt).toBeLessThanOrEqual(5000);
    const raised = await rateOver(url, 5000);
    expect(raised).toBeGreaterThan(4000 * 0.85);
    expect(raised).toBeLessThan(4000 * 1.15);
    const s = await status(env, 'rate');
    expect(s.progress.events[0]).toMatchObject({
      kind: 'settings',
      message: 'maxRowsPerSecond: 2000 → 4000',
    });
    expect(s.run.settings.maxRowsPerSecond).toBe(4000);
  });

  it('pause --all stops every running run within a batch (the panic switch)', async () => {
    const url = await migratedDatabase('throttle_pause_all');
    await seedLegacyRows(url, 60_000);
    await withClient(url, async (c) => {
      await c.query('CREATE TABLE run_logs_b (LIKE run_logs INCLUDING ALL)');
      await c.query('INSERT INTO run_logs_b SELECT * FROM run_logs');
    });
    const env = distributedEnv(url, `${PREFIX}-pause`);
    const args = ['--shard-rows', '20000', '--batch-size', '500', ...FIXED, '--max-rows-per-second', '4000'];
    await startRun(env, 'a', args);
    // `backfill start` always targets run_logs; the control plane takes any run_logs-shaped table.
    const ctx = await openControl({
      databaseUrl: url,
      redisUrl: env.REDIS_URL!,
      prefix: env.QUEUE_PREFIX!,
      logger: silentLogger,
    });
    try {
      await controlStart(ctx, {
        name: 'b',
        table: { schema: 'public', name: 'run_logs_b' },
        shardRows: 20_000,
        order: 'asc',
        method: 'keyset',
        analyze: false,
        settings: { ...RUN_SETTINGS_DEFAULTS, batchSize: 500, targetBatchMs: 0, maxRowsPerSecond: 4000 },
        commit: true,
      });
    } finally {
      await closeControl(ctx);
    }
    fleet(2, env);
    const rowsOf = (table: string) =>
      withClient(url, async (c) =>
        Number((await c.query(`SELECT count(event_id) AS n FROM ${table}`)).rows[0].n),
      );
    await waitFor(
      'both runs to write',
      async () => (await rowsOf('run_logs')) > 2000 && (await rowsOf('run_logs_b')) > 2000,
    );
    const res = await runCli(['pause', '--all', '--json'], env);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).paused.sort()).toEqual(['a', 'b']);
    const at = [await rowsOf('run_logs'), await rowsOf('run_logs_b')];
    await new Promise((r) => setTimeout(r, 3000));
    const after = [await rowsOf('run_logs'), await rowsOf('run_logs_b')];
    // At most the batches already in flight (two shards per run at most, one batch of 500 each);
    // unpaused, 3 s at this cap would be 12,000 rows.
    expect(after[0]! - at[0]!).toBeLessThanOrEqual(1000);
    expect(after[1]! - at[1]!).toBeLessThanOrEqual(1000);
  });

  it('a window that excludes now holds every worker, and status says when it opens; opening it lets the run finish', async () => {
    const url = await migratedDatabase('throttle_window');
    await seedLegacyRows(url, 10_000);
    const env = distributedEnv(url, `${PREFIX}-window`);
    // A window that opens two hours from now (UTC) and lasts one hour.
    const hh = (h: number) => String((new Date().getUTCHours() + h) % 24).padStart(2, '0');
    const window = `${hh(2)}:00-${hh(3)}:00`;
    await startRun(env, 'win', ['--shard-rows', '5000', '--window', window, '--timezone', 'UTC']);
    fleet(2, env);
    await waitFor(
      'both workers to hold',
      async () =>
        (await status(env, 'win')).holds.filter((h: { gate: string }) => h.gate === 'window').length >= 2,
      30_000,
      250,
    );
    const s = await status(env, 'win');
    expect(s.holds[0]).toMatchObject({ gate: 'window', threshold: `${window} UTC` });
    expect(Date.parse(s.holds[0].until) - Date.now()).toBeGreaterThan(3_500_000);
    expect(await rowsDone(url)).toBe(0);
    const text = await runCli(['status', 'win'], env);
    expect(text.stdout).toMatch(/held by window .* it opens at /);
    expect((await runCli(['set', 'win', '--window', 'off'], env)).code).toBe(0);
    await waitForRunStatus(url, 'win', 'completed', 60_000);
    await verifyComplete(env, '10000');
  });

  it("an operator's SQL probe holds the fleet and releases it", async () => {
    const url = await migratedDatabase('throttle_probe');
    await seedLegacyRows(url, 20_000);
    await withClient(url, (c) =>
      c.query("CREATE TABLE hold_switch (reason text); INSERT INTO hold_switch VALUES ('deploy running')"),
    );
    const env = distributedEnv(url, `${PREFIX}-probe`);
    await startRun(env, 'probe', [
      '--shard-rows',
      '10000',
      '--gate-sql',
      'SELECT EXISTS (SELECT 1 FROM hold_switch) AS hold, (SELECT min(reason) FROM hold_switch) AS reason',
    ]);
    fleet(1, env);
    await waitFor(
      'the probe to hold',
      async () => (await status(env, 'probe')).holds.length > 0,
      30_000,
      250,
    );
    expect((await status(env, 'probe')).holds[0]).toMatchObject({
      gate: 'sql_probe',
      reason: 'deploy running',
    });
    expect(await rowsDone(url)).toBe(0);
    await withClient(url, (c) => c.query('DELETE FROM hold_switch'));
    await waitForRunStatus(url, 'probe', 'completed', 60_000);
  });

  it('replication lag: a paused standby holds the fleet (status shows it), its resumed replay releases it', async () => {
    pair = await startStandbyPair();
    const url = pair.primaryUrl;
    const migrated = await runCli(['migrate'], { DATABASE_URL: url });
    expect(migrated.code, migrated.stderr).toBe(0);
    await seedLegacyRows(url, 60_000);
    const env = distributedEnv(url, `${PREFIX}-lag`);
    await startRun(env, 'lag', [
      '--shard-rows',
      '60000',
      '--batch-size',
      '1000',
      ...FIXED,
      '--max-rows-per-second',
      '6000',
      '--gate-replication-lag',
      '1s',
    ]);
    const standby = new pg.Client({ connectionString: pair.standbyUrl });
    await standby.connect();
    try {
      fleet(1, env);
      await waitFor('some rows', async () => (await rowsDone(url)) >= 3000);
      await standby.query('SELECT pg_wal_replay_pause()');
      await waitFor(
        'the lag gate to hold',
        async () =>
          (await status(env, 'lag')).holds.some((h: { gate: string }) => h.gate === 'replication_lag'),
        30_000,
        250,
      );
      const held = (await status(env, 'lag')).holds[0];
      expect(held).toMatchObject({ gate: 'replication_lag', threshold: '1000ms' });
      const during = await rowsDone(url);
      await new Promise((r) => setTimeout(r, 2000));
      expect(await rowsDone(url)).toBeLessThanOrEqual(during + 2000); // at most the batch in flight
      expect((await status(env, 'lag')).etaSeconds).not.toBeNull(); // still meaningful while held
      await standby.query('SELECT pg_wal_replay_resume()');
      await waitForRunStatus(url, 'lag', 'completed', 120_000);
    } finally {
      await standby.end();
    }
  });
});
