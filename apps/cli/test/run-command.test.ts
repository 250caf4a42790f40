import { eventId } from '@backfill/shared/event-id';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { collect, runCli, spawnCli, waitForLog } from '../../../test-support/cli.js';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { seedLegacyRows, tableChecksum } from '../../../test-support/seed.js';

async function prepared(name: string, rows: number): Promise<string> {
  const url = await migratedDatabase(`cli_run_${name}`);
  await seedLegacyRows(url, rows);
  return url;
}

const nonNull = (url: string) =>
  withClient(url, async (c) =>
    Number((await c.query('SELECT count(event_id) AS n FROM run_logs')).rows[0].n),
  );

/** Inserts app rows (with their event_id, as the write path does) and legacy rows (NULL) until stopped. */
function startWriter(url: string) {
  const client = new pg.Client({ connectionString: url });
  const appRows: Array<{ id: string; xmin: string; eventId: string }> = [];
  let legacy = 0;
  let stop = false;
  const done = (async () => {
    await client.connect();
    for (let i = 0; !stop; i++) {
      const row = {
        run_id: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
        event_type: 'app.event',
        level: 'info',
        message: `live ${i}`,
        data: { i, nested: { timestamp: i } },
      };
      const id = eventId(row);
      const r = await client.query(
        `INSERT INTO run_logs (run_id, event_type, level, message, data, event_id) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id::text, xmin::text`,
        [row.run_id, row.event_type, row.level, row.message, JSON.stringify(row.data), id],
      );
      appRows.push({ ...r.rows[0], eventId: id });
      await client.query(
        `INSERT INTO run_logs (run_id, event_type, message, data) VALUES (gen_random_uuid(), 'legacy.late', 'x', '{"late":true}')`,
      );
      legacy++;
      await new Promise((r) => setTimeout(r, 5));
    }
    await client.end();
  })();
  return {
    appRows,
    legacyCount: () => legacy,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

describe('backfill run (CLI)', () => {
  it('survives SIGKILL mid-run beside live writes: the re-run completes exactly, app ids untouched', async () => {
    const url = await prepared('sigkill', 200_000);
    const env = { DATABASE_URL: url };
    const writer = startWriter(url);
    try {
      const first = spawnCli(['run', '--commit', '--batch-size', '2000'], { ...env, LOG_LEVEL: 'debug' });
      const firstDone = collect(first);
      await waitForLog(first, (l) => l.msg === 'batch' && Number(l.lastId) >= 40_000);
      first.kill('SIGKILL');
      const killed = await firstDone;
      expect(killed.signal).toBe('SIGKILL');
      expect(await nonNull(url)).toBeLessThan(200_000);

      const second = await runCli(['run', '--commit', '--json'], env);
      expect(second.code, second.stderr).toBe(0);
      const summary = JSON.parse(second.stdout);
      expect(summary.complete).toBe(true);
      expect(summary.rowsUpdated).toBeGreaterThan(0);
      expect(summary.rowsUpdated).toBeLessThan(200_000); // it resumed: done rows were not redone
      await writer.stop();

      const verify = await runCli(
        ['verify', '--full', '--expect-complete', '--to-id', summary.toId, '--json'],
        env,
      );
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      const report = JSON.parse(verify.stdout);
      expect(report.mismatches).toBe(0);
      expect(report.nullCount).toBe(0);
      expect(report.rowsChecked).toBeGreaterThanOrEqual(200_000);

      // Application-written rows were never updated by the backfill (same xmin) and keep their ids.
      expect(writer.appRows.length).toBeGreaterThan(0);
      const ids = writer.appRows.map((r) => r.id);
      const now = await withClient(url, (c) =>
        c.query('SELECT id::text, xmin::text, event_id FROM run_logs WHERE id = ANY($1::bigint[])', [ids]),
      );
      const byId = new Map(now.rows.map((r) => [r.id, r]));
      for (const r of writer.appRows) {
        expect(byId.get(r.id)).toEqual({ id: r.id, xmin: r.xmin, event_id: r.eventId });
      }
    } finally {
      await writer.stop();
    }
  });

  it('dry run (the default) writes nothing: the table checksum is unchanged', async () => {
    const url = await prepared('dry', 5000);
    const before = await tableChecksum(url);
    const res = await runCli(['run'], { DATABASE_URL: url });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/dry run \(nothing written\): would update 5,000 rows/);
    expect(res.stdout).toMatch(/add --commit to write/);
    expect(await tableChecksum(url)).toBe(before);
  });

  it('rejects bad flags with exit 2, a message naming the flag, and nothing written', async () => {
    const url = await prepared('bad_flags', 1000);
    const before = await tableChecksum(url);
    const cases: Array<[string[], RegExp]> = [
      [['--batch-size', '0'], /--batch-size: must be at least 1/],
      [['--batch-size', 'lots'], /--batch-size: must be a whole number/],
      [['--from-id', '-5'], /--from-id/],
      [['--to-id', '1.5'], /--to-id/],
      [['--from-id', '10', '--to-id', '5'], /--from-id \(10\) is greater than --to-id \(5\)/],
      [['--max-rows-per-second', '-1'], /--max-rows-per-second: must be at least 0/],
      [['--statement-timeout', 'soon'], /--statement-timeout: must be a duration/],
      [['--lock-timeout', '0'], /--lock-timeout: must be at least 1ms/],
      [['--statement-timeout', '40000m'], /--statement-timeout: must be at most 1h/],
      [['--reconnect-budget', '2d'], /--reconnect-budget: must be a duration/],
      [['--on-bad-row', 'ignore'], /--on-bad-row: must be one of: fail, skip/],
      [['--nope'], /unknown option '--nope'/],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(['run', '--commit', ...args], { DATABASE_URL: url });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toMatch(message);
    }
    const badEnv = await runCli(['run'], { DATABASE_URL: 'mysql://nope' });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/DATABASE_URL/);
    expect(await tableChecksum(url)).toBe(before);
  });

  it('bad rows: fail exits 1 naming the row, skip records them and finishes', async () => {
    const url = await prepared('bad_rows', 3000);
    await withClient(url, (c) =>
      c.query(`UPDATE run_logs SET data = '{"big": 1e400}'::jsonb WHERE id = 1234`),
    );
    const fail = await runCli(['run', '--commit'], { DATABASE_URL: url });
    expect(fail.code).toBe(1);
    expect(fail.stderr).toMatch(/row id 1234: data\.big/);
    const skip = await runCli(['run', '--commit', '--on-bad-row', 'skip'], { DATABASE_URL: url });
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.stdout).toMatch(/1 bad rows skipped/);
    const verify = await runCli(['verify', '--full', '--expect-complete'], { DATABASE_URL: url });
    expect(verify.code).toBe(1); // the bad row still has no id
    expect(verify.stdout).toMatch(/NULL event_id in range: 1\b/);
  });

  it('SIGINT finishes the batch in flight, says how to resume, and exits 130', async () => {
    const url = await prepared('sigint', 50_000);
    const child = spawnCli(['run', '--commit', '--batch-size', '1000', '--max-rows-per-second', '5000'], {
      DATABASE_URL: url,
      LOG_LEVEL: 'debug',
    });
    const done = collect(child);
    await waitForLog(child, (l) => l.msg === 'batch' && Number(l.lastId) >= 2000);
    child.kill('SIGINT');
    const res = await done;
    expect(res.code).toBe(130);
    expect(res.stdout).toMatch(/stopped by SIGINT after id (\d+)/);
    const resume = /resume with: (backfill run --commit --from-id (\d+) --to-id 50000)/.exec(res.stdout);
    expect(resume).not.toBeNull();
    // Every row below the resume point is done, none after it was touched by a half batch.
    const from = Number(resume![2]);
    const counts = await withClient(url, (c) =>
      c.query(
        'SELECT count(event_id) FILTER (WHERE id < $1)::int AS done, count(*) FILTER (WHERE id < $1)::int AS total FROM run_logs',
        [from],
      ),
    );
    expect(counts.rows[0].done).toBe(counts.rows[0].total);
  });

  it('verify exits 1 on a mismatch and lists it', async () => {
    const url = await prepared('verify_mismatch', 2000);
    const ok = await runCli(['run', '--commit'], { DATABASE_URL: url });
    expect(ok.code, ok.stderr).toBe(0);
    const good = await runCli(['verify', '--full', '--expect-complete'], { DATABASE_URL: url });
    expect(good.code, good.stdout).toBe(0);
    await withClient(url, (c) =>
      c.query(`UPDATE run_logs SET event_id = '00000000-0000-5000-8000-000000000000' WHERE id = 77`),
    );
    const bad = await runCli(['verify', '--full', '--json'], { DATABASE_URL: url });
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.mismatches).toBe(1);
    expect(report.firstMismatches[0]).toMatchObject({
      id: '77',
      stored: '00000000-0000-5000-8000-000000000000',
    });
    const sample = await runCli(['verify', '--sample', '500', '--json'], { DATABASE_URL: url });
    const s = JSON.parse(sample.stdout);
    expect(s.rowsChecked).toBeGreaterThan(100);
    expect(s.mode).toBe('sample');
  });
});

describe('remaining-NULL count', () => {
  let url: string;
  beforeAll(async () => {
    url = await prepared('null_plan', 5000);
    await withClient(url, (c) => c.query('ANALYZE run_logs'));
  });
  it('goes through ix_run_logs_event_id, not a sequential scan', async () => {
    const plan = await withClient(url, async (c) => {
      await c.query('BEGIN');
      await c.query('SET LOCAL enable_seqscan = off');
      const r = await c.query(
        `EXPLAIN SELECT count(*) FROM "public"."run_logs" WHERE event_id IS NULL AND id + 0 BETWEEN 1 AND 5000`,
      );
      await c.query('COMMIT');
      return r.rows.map((x) => x['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/ix_run_logs_event_id/);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
