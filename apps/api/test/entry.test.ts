// The deployable as an operator runs it (bin/backfill-api.js, the compiled dist/): --help shows every
// flag with its default, bad flags and variables are refused naming them (exit 2), a database that is
// not there or has no run_logs is refused at start (exit 2 / 1), an unreachable server is exit 3; it
// serves, and SIGTERM stops it cleanly (exit 0).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, waitForLog } from '../../../test-support/cli.js';
import { freshDatabase, migratedDatabase, testDatabaseUrl, withClient } from '../../../test-support/db.js';
import { API_DEFAULTS, API_FLAGS } from '../src/config.js';

const BIN = fileURLToPath(new URL('../bin/backfill-api.js', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function spawnApi(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

const run = (args: string[], env: Record<string, string> = {}) => collect(spawnApi(args, env));

describe('backfill-api', () => {
  it('--help lists every flag with its default, and the environment', async () => {
    const res = await run(['--help']);
    expect(res.code).toBe(0);
    const help = res.stdout.replace(/\s+/g, ' '); // commander wraps lines
    for (const f of API_FLAGS)
      expect(help).toContain(`${f.flags} ${f.description} (default: "${f.defaultValue}")`);
    expect(help).toContain('--batch-limit <n> events one POST may carry (1–10000) (default: "1000")');
    expect(help).toContain('(default: "1MB")');
    for (const v of ['DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL']) expect(help).toContain(v);
    expect(help).toContain(`PORT port to listen on (default ${API_DEFAULTS.port}`);
  });

  it('refuses bad flags and variables, naming them (exit 2)', async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--batch-limit', '0'], {}, /--batch-limit: must be at least 1/],
      [['--body-limit', 'lots'], {}, /--body-limit: must be a size/],
      [['--event-ids', 'sometimes'], {}, /--event-ids: must be one of: auto, off/],
      [['--schema-recheck', '5'], {}, /--schema-recheck: must be at least 100ms/],
      [['--bogus'], {}, /unknown option '--bogus'/],
      [[], { PORT: '99999' }, /environment variable PORT: must be a port number/],
      [[], { DATABASE_URL: 'mysql://x' }, /environment variable DATABASE_URL/],
      [[], { LOG_LEVEL: 'loud' }, /environment variable LOG_LEVEL/],
    ];
    for (const [args, env, message] of cases) {
      const res = await run(args, env);
      expect(res.code, `${args} ${JSON.stringify(env)}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toMatch(message);
    }
  });

  it('refuses a database it cannot use at start', async () => {
    const missing = await run([], { DATABASE_URL: testDatabaseUrl('bf_no_such_database_here') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/database "bf_no_such_database_here" does not exist/);
    const empty = await run([], { DATABASE_URL: await freshDatabase('api_entry_empty') });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/run_logs does not exist/);
    const down = await run([], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/backfill' });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach PostgreSQL at 127.0.0.1:1/);
  });

  it('serves, and stops cleanly on SIGTERM', async () => {
    const url = await migratedDatabase('api_entry_serve');
    const child = spawnApi([], { DATABASE_URL: url });
    const done = collect(child);
    let address = '';
    await waitForLog(child, (l) => {
      if (l.msg === 'listening') address = String(l.address);
      return l.msg === 'listening';
    });
    const res = await fetch(`${address}/runs/6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'hello' }),
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { event_id: string }).event_id).toMatch(/^[0-9a-f-]{36}$/);
    child.kill('SIGTERM');
    const end = await done;
    expect(end.code).toBe(0);
    expect(end.stderr).toMatch(/"msg":"stopped"/);
    expect(end.stderr).not.toMatch(/no valid index on run_logs \(event_id\)/); // migrate built it
  });

  it('says at start how a resume by event_id is found while ix_run_logs_event_id is deferred', async () => {
    const url = await migratedDatabase('api_entry_deferred');
    await withClient(url, (c) => c.query('DROP INDEX ix_run_logs_event_id')); // as --index=auto defers it
    const child = spawnApi([], { DATABASE_URL: url });
    const done = collect(child);
    await waitForLog(child, (l) => l.msg === 'listening');
    child.kill('SIGTERM');
    const end = await done;
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toMatch(
      /no valid index on run_logs \(event_id\) yet: a stream resumed from an event_id finds it by walking the run's rows \(the whole table: no run_id index either\); finalize \(or backfill index\) builds ix_run_logs_event_id/,
    );
  });
});
