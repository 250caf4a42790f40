// Inputs that used to be accepted and then misbehave: each is refused up front with the flag or variable
// named (exit 2 for malformed configuration, 3 for a service that is unreachable or refuses us), and
// nothing is written.
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { ADMIN_URL, freshDatabase, migratedDatabase, withClient } from '../../../test-support/db.js';
import { REDIS_URL, removeRedisKeys } from '../../../test-support/distributed.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

const PREFIX = `bft-traps-${process.pid}`;
afterAll(() => removeRedisKeys(PREFIX));

const runsIn = (url: string) =>
  withClient(url, async (c) => Number((await c.query('SELECT count(*) AS n FROM backfill_runs')).rows[0].n));

const databaseExists = (name: string) =>
  withClient(
    ADMIN_URL,
    async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1,
  );

async function seeded(name: string, rows: number) {
  const url = await migratedDatabase(`traps_${name}`);
  await seedLegacyRows(url, rows);
  return { url, env: { DATABASE_URL: url, REDIS_URL, QUEUE_PREFIX: PREFIX } };
}

const noStack = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at /);

describe('inputs that are traps', { timeout: 120_000 }, () => {
  it('every duration and number flag has an upper bound: exit 2, the flag named, nothing written', async () => {
    const { url, env } = await seeded('bounds', 1000);
    const start = ['start', '--name', 'b', '--commit'];
    const cases: Array<[string[], RegExp]> = [
      [[...start, '--statement-timeout', '40000m'], /--statement-timeout: must be at most 1h/],
      [[...start, '--lock-timeout', '11m'], /--lock-timeout: must be at most 10m/],
      [[...start, '--backoff', '2h'], /--backoff: must be at most 1h/],
      [
        [...start, '--max-rows-per-second', '2000000000'],
        /--max-rows-per-second: must be at most 1000000000/,
      ],
      [[...start, '--shard-rows', '100000001'], /--shard-rows: must be at most 100000000/],
      [['worker', '--poll-interval', '9999999999'], /--poll-interval: must be at most 1m/],
      [['worker', '--shutdown-timeout', '3000000000'], /--shutdown-timeout: must be at most 1h/],
      [['worker', '--lock-duration', '2h'], /--lock-duration: must be at most 1h/],
      [['worker', '--stalled-interval', '2h'], /--stalled-interval: must be at most 1h/],
      [['status', 'b', '--watch', '--interval', '2h'], /--interval: must be at most 1h/],
      [['migrate', '--lock-timeout', '11m'], /--lock-timeout: must be at most 10m/],
      [['migrate', '--index-lock-timeout', '2h'], /--index-lock-timeout: must be at most 1h/],
      [['run', '--commit', '--statement-timeout', '2h'], /--statement-timeout: must be at most 1h/],
      [['verify', '--sample', '10000001'], /--sample: must be at most 10000000/],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(args, env);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toMatch(message);
    }
    expect(await runsIn(url)).toBe(0);
    const filled = await withClient(url, (c) => c.query('SELECT count(event_id)::int AS n FROM run_logs'));
    expect(filled.rows[0].n).toBe(0);
  });

  it('a REDIS_URL naming no database number, and a DATABASE_URL with a bad %-escape: exit 2, no stack trace', async () => {
    const redis = await runCli(['status'], { REDIS_URL: 'redis://127.0.0.1:6379/abc' });
    expect(redis.code).toBe(2);
    expect(redis.stderr).toMatch(/REDIS_URL: must name a database by its number/);
    const pg = await runCli(['run'], { DATABASE_URL: 'postgres://postgres:p%zz@127.0.0.1:5432/test' });
    expect(pg.code).toBe(2);
    expect(pg.stderr).toMatch(/DATABASE_URL: has a malformed %-escape/);
    noStack(pg.stderr);
  });

  it('a login PostgreSQL refuses: exit 3 with the reason', async () => {
    const url = new URL(ADMIN_URL);
    url.username = 'no_such_role_here';
    const res = await runCli(['run'], { DATABASE_URL: url.toString() });
    expect(res.code, res.stderr).toBe(3);
    expect(res.stderr).toMatch(/refused the login of user "no_such_role_here"/);
    noStack(res.stderr);
  });

  it('a database that does not exist: exit 2; migrate creates one only with --create-database', async () => {
    const url = await freshDatabase('traps_missing');
    const name = new URL(url).pathname.slice(1);
    await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE "${name}"`));
    const run = await runCli(['run'], { DATABASE_URL: url });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/database "\w+" does not exist/);
    const migrate = await runCli(['migrate'], { DATABASE_URL: url });
    expect(migrate.code, migrate.stderr).toBe(2);
    expect(migrate.stderr).toMatch(/--create-database/);
    expect(await databaseExists(name)).toBe(false);
    const created = await runCli(['migrate', '--create-database'], { DATABASE_URL: url });
    expect(created.code, created.stderr).toBe(0);
    expect(await databaseExists(name)).toBe(true);
  });

  it('an inverted id range is exit 2 everywhere, and start records nothing (the name stays free)', async () => {
    const { url, env } = await seeded('inverted', 1000);
    const cases: Array<[string[], RegExp]> = [
      [
        ['start', '--name', 'inv', '--commit', '--from-id', '100', '--to-id', '50'],
        /--from-id \(100\) is greater than --to-id \(50\)/,
      ],
      [
        ['start', '--name', 'inv', '--commit', '--from-id', '5000'],
        /--from-id 5000 is beyond the last id .* \(1000\)/,
      ],
      [['verify', '--from-id', '100', '--to-id', '50'], /--from-id \(100\) is greater than --to-id \(50\)/],
      [['run', '--commit', '--from-id', '5000'], /--from-id 5000 is beyond the last id/],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(args, env);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toMatch(message);
    }
    expect(await runsIn(url)).toBe(0);
    const ok = await runCli(['start', '--name', 'inv', '--commit', '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('--shard-rows 1 on a big table is refused before planning (exit 2), naming a shard size that fits', async () => {
    const { url, env } = await seeded('tiny_shards', 200_000);
    const res = await runCli(['start', '--name', 'tiny', '--commit', '--shard-rows', '1'], env);
    expect(res.code, res.stderr).toBe(2);
    // "at least 100,001 rows": the count stopped as soon as the answer was clear, before any keyset walk
    // (a walk would have planned all 200,000 shards first, and said so with the exact count).
    expect(res.stderr).toMatch(
      /would cut at least 100,001 rows into at least 100,001 shards, more than the 100,000 one run may have: use --shard-rows 2 or more/,
    );
    expect(await runsIn(url)).toBe(0);
  });

  it('an event_id of a blank-padded type (char(36)) is refused with the reason', async () => {
    const url = await freshDatabase('traps_char');
    await withClient(url, (c) =>
      c.query(`CREATE TABLE run_logs (id bigserial PRIMARY KEY, run_id uuid NOT NULL, "timestamp" timestamptz NOT NULL DEFAULT now(),
                 level text NOT NULL DEFAULT 'info', event_type text NOT NULL, message text, data jsonb, event_id char(36))`),
    );
    const migrate = await runCli(['migrate'], { DATABASE_URL: url });
    expect(migrate.code, migrate.stderr).toBe(1);
    expect(migrate.stderr).toMatch(/event_id is character\(36\): a blank-padded type/);
    const run = await runCli(['run'], { DATABASE_URL: url });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/blank-padded/);
  });

  it('demo never drops a *_demo database it did not make', async () => {
    const base = await freshDatabase('traps_demo_base');
    const demoName = `${new URL(base).pathname.slice(1)}_demo`;
    const demoUrl = new URL(base);
    demoUrl.pathname = `/${demoName}`;
    await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS "${demoName}"`));
    await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE "${demoName}"`));
    try {
      await withClient(demoUrl.toString(), (c) => c.query('CREATE TABLE precious (x int)'));
      const res = await runCli(['demo', '--rows', '1000'], { DATABASE_URL: base, REDIS_URL });
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toMatch(/was not made by `backfill demo`: not dropping it/);
      const still = await withClient(demoUrl.toString(), (c) =>
        c.query("SELECT to_regclass('precious') AS t"),
      );
      expect(still.rows[0].t).toBe('precious');
    } finally {
      await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS "${demoName}" WITH (FORCE)`));
    }
  });
});
