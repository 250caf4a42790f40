import { describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { dropWhenFileEnds, freshDatabase, withClient } from '../../../test-support/db.js';

describe('backfill demo', () => {
  it('runs the whole rollout in <db>_demo with worker processes and proves it complete', async () => {
    const url = await freshDatabase('cli_democmd');
    dropWhenFileEnds(`${url}_demo`); // the demo's own database, made by the command
    const res = await runCli(
      ['demo', '--rows', '20000', '--workers', '2', '--shard-rows', '5000', '--json'],
      {
        DATABASE_URL: url,
        LOG_LEVEL: 'warn',
      },
    );
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout);
    expect(summary).toMatchObject({ rows: 20_000, workers: 2, shards: 4 });
    expect(summary.verify).toMatchObject({ mismatches: 0, nullCount: 0 });
    const demoUrl = `${url}_demo`;
    const run = await withClient(demoUrl, (c) =>
      c.query(`SELECT status FROM backfill_runs WHERE name = 'demo'`),
    );
    expect(run.rows[0].status).toBe('finalized');
    const workers = await withClient(demoUrl, (c) =>
      c.query(
        `SELECT count(DISTINCT worker)::int AS n FROM backfill_shard_events WHERE to_status = 'completed'`,
      ),
    );
    expect(workers.rows[0].n).toBe(2);
  });

  it('says which service is unreachable, where, and how to start it (exit 3)', async () => {
    const res = await runCli(['demo', '--rows', '1000'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/cannot reach Redis at 127\.0\.0\.1:1 .*docker compose up -d redis/);
    const pg = await runCli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' });
    expect(pg.code).toBe(3);
    expect(pg.stderr).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:1 .*docker compose up -d postgres/);
  });
});
