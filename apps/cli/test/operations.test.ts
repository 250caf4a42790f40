// What the README promises an operator, checked through the built CLI against real PostgreSQL (and
// Redis for status): stopping `run` by signal, rolling the migration back and forward, the deferred
// index, two migrates at once, and `status` rates, ETA and --watch while a distributed run progresses.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, collect, runCli, spawnCli, waitForLog } from '../../../test-support/cli.js';
import { freshDatabase, migratedDatabase, withClient } from '../../../test-support/db.js';
import { distributedEnv, removeRedisKeys, startRun } from '../../../test-support/distributed.js';
import { rowsDone, runStatusOf, startFleet, waitFor } from '../../../test-support/fleet.js';
import { seedLegacyRows, tableChecksum } from '../../../test-support/seed.js';

const PREFIX = `bft-cli-ops-${process.pid}`;

afterAll(() => removeRedisKeys(PREFIX));

async function prepared(name: string, rows: number): Promise<string> {
  const url = await migratedDatabase(`cli_ops_${name}`);
  await seedLegacyRows(url, rows);
  return url;
}

/** Backends of `app` on this database waiting for a lock (a row, a table or an advisory lock). */
const lockWaiters = (url: string, app: string) =>
  withClient(url, async (c) =>
    Number(
      (
        await c.query(
          `SELECT count(*) AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`,
          [app],
        )
      ).rows[0].n,
    ),
  );

/** A transaction holding the row lock on run_logs.id = `id`: a batch that includes it waits. */
async function lockRow(url: string, id: number): Promise<pg.Client> {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT id FROM run_logs WHERE id = $1 FOR UPDATE', [id]);
  return holder;
}

const filled = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query('SELECT id::int, event_id IS NOT NULL AS done FROM run_logs ORDER BY id');
    return rows as Array<{ id: number; done: boolean }>;
  });

const eventIdIndex = (url: string) =>
  withClient(
    url,
    async (c) =>
      (
        await c.query(
          `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relname = 'ix_run_logs_event_id'`,
        )
      ).rows[0] as { valid: boolean } | undefined,
  );

const hasEventIdColumn = (url: string) =>
  withClient(
    url,
    async (c) =>
      (
        await c.query(
          `SELECT 1 FROM information_schema.columns WHERE table_name = 'run_logs' AND column_name = 'event_id'`,
        )
      ).rowCount === 1,
  );

/** The migration journal drizzle keeps: one row per applied migration file. */
const journal = (url: string) =>
  withClient(
    url,
    async (c) =>
      (await c.query('SELECT hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY created_at'))
        .rows,
  );

const jsonLogLines = (stderr: string) =>
  stderr.split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as { msg?: string; level?: number }];
    } catch {
      return [];
    }
  });

// Options that make the batch holding a locked row wait for it instead of timing out and retrying.
const WAIT_ON_LOCKS = ['--batch-size', '1000', '--lock-timeout', '5m', '--statement-timeout', '10m'];

describe('backfill run: stopping by signal', () => {
  it('SIGTERM finishes the batch in flight, writes no further batch, prints the resume command and exits 143', async () => {
    const url = await prepared('sigterm', 20_000);
    // Rows 5001..6000 are one batch: its UPDATE waits on this lock, so it is in flight when the signal lands.
    const holder = await lockRow(url, 5500);
    let code: number | null = null;
    let stdout = '';
    try {
      const child = spawnCli(['run', '--commit', ...WAIT_ON_LOCKS], { DATABASE_URL: url });
      const done = collect(child);
      const warned = waitForLog(child, (l) => /^SIGTERM: finishing the batch in flight/.test(String(l.msg)));
      await waitFor(
        'the batch UPDATE to wait on the locked row',
        () => lockWaiters(url, 'backfill-run'),
        60_000,
      );
      child.kill('SIGTERM');
      await warned;
      // It cannot end before the batch it waits on does; the lock goes only now.
      expect(child.exitCode).toBeNull();
      await holder.query('COMMIT');
      ({ code, stdout } = await done);
    } finally {
      await holder.end();
    }
    expect(code).toBe(143);
    const stopped = /stopped by SIGTERM after id (\d+)/.exec(stdout);
    expect(stopped, stdout).not.toBeNull();
    const cursor = Number(stopped![1]);
    const resume = /resume with: (backfill run --commit --from-id (\d+) --to-id 20000)/.exec(stdout);
    expect(resume, stdout).not.toBeNull();
    expect(Number(resume![2])).toBe(cursor + 1);
    // The batch that was in flight (5001..6000) committed; nothing after the resume point was written.
    expect(cursor).toBeGreaterThanOrEqual(6000);
    const rows = await filled(url);
    expect(rows.filter((r) => r.id <= cursor && !r.done)).toEqual([]);
    expect(rows.filter((r) => r.id > cursor && r.done)).toEqual([]);

    // The printed command picks up exactly there.
    const again = await runCli([...resume![1]!.split(' ').slice(1), '--json'], { DATABASE_URL: url });
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout);
    expect(summary.complete).toBe(true);
    expect(summary.rowsUpdated).toBe(20_000 - cursor);
  });

  it('a second signal exits at once, without waiting for the batch in flight', async () => {
    const url = await prepared('second_signal', 20_000);
    const holder = await lockRow(url, 5500);
    try {
      const child = spawnCli(['run', '--commit', ...WAIT_ON_LOCKS], { DATABASE_URL: url });
      const done = collect(child);
      const warned = waitForLog(child, (l) => /^SIGTERM: finishing the batch in flight/.test(String(l.msg)));
      await waitFor(
        'the batch UPDATE to wait on the locked row',
        () => lockWaiters(url, 'backfill-run'),
        60_000,
      );
      child.kill('SIGTERM');
      await warned;
      child.kill('SIGTERM');
      // Bounded: a process that waits for the batch would wait for the test's lock, forever.
      await waitFor(
        'the CLI to exit after the second signal',
        async () => child.exitCode !== null || child.signalCode !== null,
        30_000,
      );
      const res = await done;
      expect(res.code).toBe(143);
      expect(res.stdout).not.toMatch(/resume with/); // no summary: it did not wait for the batch to end
      // The batch's UPDATE still waits on the lock the test holds: the process ended while it was in flight.
      expect(await lockWaiters(url, 'backfill-run')).toBeGreaterThan(0);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });
});

describe('backfill migrate', () => {
  it('--down prints the plan and writes nothing; --down --yes drops the index, then the column, and rewinds the journal; migrate re-applies it', async () => {
    const url = await prepared('down', 3000);
    const env = { DATABASE_URL: url };
    const run = await runCli(['run', '--commit'], env);
    expect(run.code, run.stderr).toBe(0);
    const backfilled = await tableChecksum(url);
    const applied = await journal(url);

    const plan = await runCli(['migrate', '--down'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout.trim().split('\n')).toEqual([
      'would do (nothing changed; add --yes to do it):',
      '  - DROP INDEX CONCURRENTLY ix_run_logs_event_id (valid)',
      expect.stringMatching(
        /^ {2}- ALTER TABLE "public"\."run_logs" DROP COLUMN event_id under lock_timeout/,
      ),
      expect.stringMatching(/^ {2}- mark migration 0002_event_id \(and any later one\) as not applied/),
    ]);
    expect(await tableChecksum(url)).toBe(backfilled);
    expect(await eventIdIndex(url)).toEqual({ valid: true });
    expect(await journal(url)).toEqual(applied);

    const down = await runCli(['migrate', '--down', '--yes'], env);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/^rolled back:\n {2}- DROP INDEX CONCURRENTLY/);
    const steps = jsonLogLines(down.stderr).map((l) => l.msg);
    const indexDropped = steps.indexOf('dropped index ix_run_logs_event_id');
    const columnDropped = steps.indexOf('dropped column run_logs.event_id and rewound the migration journal');
    expect(indexDropped, down.stderr).toBeGreaterThanOrEqual(0);
    expect(columnDropped, down.stderr).toBeGreaterThan(indexDropped);
    expect(await eventIdIndex(url)).toBeUndefined();
    expect(await hasEventIdColumn(url)).toBe(false);
    // The journal lost 0002_event_id and everything after it, and nothing before.
    const rewound = await journal(url);
    expect(rewound).toEqual(applied.slice(0, rewound.length));
    expect(rewound.length).toBe(2);

    const up = await runCli(['migrate', '--json'], env);
    expect(up.code, up.stderr).toBe(0);
    const report = JSON.parse(up.stdout);
    expect(report.applied[0]).toBe('0002_event_id');
    expect(report.applied).toHaveLength(applied.length - rewound.length);
    expect(report.index).toBe('built');
    expect(await journal(url)).toEqual(applied);
    expect(await eventIdIndex(url)).toEqual({ valid: true });

    // The ids are deterministic: a new backfill writes exactly what the dropped column held.
    const rerun = await runCli(['run', '--commit'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await tableChecksum(url)).toBe(backfilled);
  });

  it('--index=defer leaves the index out; `backfill index` builds it, valid', async () => {
    const url = await freshDatabase('cli_ops_defer');
    const env = { DATABASE_URL: url };
    const migrated = await runCli(['migrate', '--index=defer'], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(
      /index ix_run_logs_event_id: deferred — `backfill finalize` builds it when the backfill is done \(or `backfill index`\)/,
    );
    expect(await hasEventIdColumn(url)).toBe(true);
    expect(await eventIdIndex(url)).toBeUndefined();

    await seedLegacyRows(url, 2000);
    const built = await runCli(['index', '--json'], env);
    expect(built.code, built.stderr).toBe(0);
    expect(JSON.parse(built.stdout).index).toBe('built');
    expect(await eventIdIndex(url)).toEqual({ valid: true });

    const again = await runCli(['index', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).index).toBe('already-valid');
  });

  it('two migrates at once: one applies everything while the other waits, then finds the schema at head', async () => {
    const url = await freshDatabase('cli_ops_two_migrates');
    // A table made by another tool, read by a long transaction: the first migrate's ALTER TABLE waits on it.
    await withClient(url, (c) =>
      c.query(`CREATE TABLE run_logs (
        id bigserial PRIMARY KEY, run_id uuid NOT NULL, "timestamp" timestamptz NOT NULL DEFAULT now(),
        level text NOT NULL DEFAULT 'info', event_type text NOT NULL, message text, data jsonb)`),
    );
    await seedLegacyRows(url, 2000);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM run_logs');
    const env = { DATABASE_URL: url };
    const args = ['migrate', '--json', '--lock-timeout', '5m'];
    let first: CliResult;
    let second: CliResult;
    try {
      const a = spawnCli(args, env);
      const aDone = collect(a);
      await waitFor(
        'the first migrate to wait on the table lock',
        () => lockWaiters(url, 'backfill-migrate'),
        60_000,
      );
      const b = spawnCli(args, env);
      const bDone = collect(b);
      await waitForLog(b, (l) =>
        /another `backfill migrate` is running on this database: waiting/.test(String(l.msg)),
      );
      // Both are in: nothing is half-applied meanwhile (the first's migrations are one transaction).
      expect(await hasEventIdColumn(url)).toBe(false);
      await holder.query('COMMIT');
      [first, second] = await Promise.all([aDone, bDone]);
    } finally {
      await holder.end();
    }
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const one = JSON.parse(first.stdout);
    const other = JSON.parse(second.stdout);
    expect(one.applied).toContain('0002_event_id');
    expect(one.index).toBe('built');
    expect(other.applied).toEqual([]);
    expect(other.index).toBe('already-valid');
    // Each migration recorded once.
    const applied = await journal(url);
    expect(new Set(applied.map((m) => m.hash)).size).toBe(applied.length);
    expect(applied).toHaveLength(one.applied.length);
    expect(await eventIdIndex(url)).toEqual({ valid: true });
  });
});

describe('backfill status of a distributed run', { timeout: 240_000 }, () => {
  it('--json gives rows/s over the last minute and an ETA while it runs; --watch --json prints one object per refresh until it ends', async () => {
    const url = await prepared('status', 60_000);
    const env = distributedEnv(url, PREFIX);
    await startRun(env, 'st', [
      '--shard-rows',
      '10000',
      '--batch-size',
      '1000',
      '--max-rows-per-second',
      '2000',
    ]);
    const fleet = startFleet(1, env);
    try {
      // The budget holds the run to 2,000 rows in any one-second window, so 6,000 rows written span
      // more than two seconds: whole seconds of counted rows lie behind the current one.
      await waitFor('6,000 rows written', async () => (await rowsDone(url)) >= 6000, 120_000);
      const once = await runCli(['status', 'st', '--json'], env);
      expect(once.code, once.stderr).toBe(0);
      const s = JSON.parse(once.stdout);
      expect(s.run.status).toBe('running');
      expect(s.progress.rowsUpdated).toBeGreaterThanOrEqual(6000);
      expect(s.rowsPerSecondLastMinute).toBeGreaterThan(0);
      expect(s.rowsPerSecondOverall).toBeGreaterThan(0);
      expect(typeof s.etaSeconds).toBe('number');
      expect(s.etaSeconds).toBeGreaterThan(0);

      const watched = await runCli(['status', 'st', '--watch', '--json', '--interval', '500ms'], env);
      expect(watched.code, watched.stderr).toBe(0);
      const reports = watched.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(reports.length).toBeGreaterThanOrEqual(2);
      const last = reports.at(-1);
      expect(last.run.status).toBe('completed');
      expect(last).toMatchObject({ percent: 100, etaSeconds: 0 });
      expect(last.progress.rowsUpdated).toBe(60_000);
      for (const r of reports.slice(0, -1)) expect(r.run.status).toBe('running');
      const rows = reports.map((r) => r.progress.rowsUpdated as number);
      expect(rows).toEqual([...rows].sort((x, y) => x - y));
      expect(await runStatusOf(url, 'st')).toBe('completed');
    } finally {
      await fleet.stopAll();
    }
  });
});
