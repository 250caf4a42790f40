// `backfill demo-data`, run as the operator runs it: the compiled CLI in a child process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL, freshDatabase } from '../../../test-support/db.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../bin/backfill.js', import.meta.url));

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const dbNameOf = (url: string) => new URL(url).pathname.slice(1);

async function databaseExists(url: string): Promise<boolean> {
  const res = await admin((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbNameOf(url)]));
  return res.rowCount === 1;
}

async function dropDatabase(url: string): Promise<void> {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbNameOf(url))} WITH (FORCE)`));
}

function backfill(url: string, ...args: string[]) {
  const res = spawnSync(process.execPath, [bin, 'demo-data', ...args], {
    cwd: repo,
    env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'info' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('backfill demo-data', () => {
  let url: string;

  beforeAll(async () => {
    // The test's own database, dropped again: the command must create it.
    url = await freshDatabase('cli_demo_data');
    await dropDatabase(url);
  });
  afterAll(async () => {
    if (url) await dropDatabase(url);
  });

  it.each([
    ['abc', /--rows: must be a whole number/],
    ['0', /--rows: must be at least 1/],
    ['100000001', /--rows: must be at most 100000000/],
  ])('--rows %s exits 2 naming --rows, and writes nothing', async (rows, message) => {
    const res = backfill(url, '--rows', rows);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
    expect(res.stdout).toBe('');
    expect(await databaseExists(url)).toBe(false);
  });

  it('rejects a bad --seed and unknown flags with exit 2', async () => {
    const seed = backfill(url, '--seed', '-1');
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/--seed: must be at least 0/);
    const unknown = backfill(url, '--rowz', '5');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--rowz'/);
    expect(await databaseExists(url)).toBe(false);
  });

  it('refuses a database that does not exist unless --create-database (a mistyped URL), exit 2', async () => {
    const res = backfill(url, '--rows', '5000', '--json');
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/database "\w+" does not exist.*--create-database/);
    expect(await databaseExists(url)).toBe(false);
  });

  it('creates the database and the table (--create-database), inserts the rows, prints the JSON summary', async () => {
    const res = backfill(url, '--rows', '5000', '--json', '--create-database');
    expect(res.stderr).not.toMatch(/unexpected error/);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]!);
    expect(summary).toMatchObject({
      rows: 5000,
      minId: '1',
      maxId: '5000',
      createdTable: true,
      seed: 1,
      sparse: false,
      table: 'public.run_logs',
    });
    expect(summary.seconds).toBeGreaterThan(0);
    expect(summary.rowsPerSecond).toBeGreaterThan(0);
    expect(res.stderr).toMatch(/did not exist: created it/);

    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const count = await c.query(
        'SELECT count(*)::int AS n, count(DISTINCT run_id)::int AS runs FROM run_logs',
      );
      expect(count.rows[0].n).toBe(5000);
      expect(count.rows[0].runs).toBeGreaterThan(10);
    } finally {
      await c.end();
    }
  });

  it('prints a human summary line; --sparse spreads the ids', async () => {
    const res = backfill(url, '--rows', '3000', '--sparse', '--seed', '9');
    expect(res.code).toBe(0);
    const m = res.stdout.match(
      /^inserted 3,000 rows \(ids (\d+)\.\.(\d+), sparse\) in \d+\.\ds, [\d,]+ rows\/s\n$/,
    );
    expect(m, res.stdout).not.toBeNull();
    expect(BigInt(m![1]!)).toBeGreaterThan(5000n);
    expect(BigInt(m![2]!) - BigInt(m![1]!)).toBeGreaterThan(3000n * 100n);
  });

  it('has help with an example', () => {
    const res = spawnSync(process.execPath, [bin, 'demo-data', '--help'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/--rows <n>/);
    expect(res.stdout).toMatch(/default: 100,000/);
    expect(res.stdout).toMatch(/\$ backfill demo-data --rows 1000000/);
  });
});
