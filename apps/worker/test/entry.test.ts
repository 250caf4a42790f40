// The worker deployable's own entry: bad flags and variables are refused before anything starts, an
// unreachable service fails fast with the exit code the table gives it, and a signal while it is still
// starting is an orderly exit.
import { describe, expect, it } from 'vitest';
import { collect, sigtermWhileConnecting, spawnWorker } from '../../../test-support/cli.js';

describe('backfill-worker entry', () => {
  it('refuses a bad flag, naming it and what it accepts (exit 2)', async () => {
    const res = await collect(spawnWorker(['--concurrency', '0']));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--concurrency: must be at least 1');
  });

  it('refuses a bad environment variable (exit 2)', async () => {
    const res = await collect(spawnWorker([], { REDIS_URL: 'http://nope' }));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('environment variable REDIS_URL');
  });

  it('fails fast when PostgreSQL is unreachable (exit 3)', async () => {
    const res = await collect(spawnWorker([], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }));
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/cannot reach PostgreSQL|cannot reach a service/);
  });

  it('a SIGTERM while it is still connecting is an orderly exit 0, not death by the signal', async () => {
    const res = await sigtermWhileConnecting(
      (databaseUrl) => spawnWorker([], { DATABASE_URL: databaseUrl }),
      'worker starting',
    );
    expect(res.signal).toBeNull();
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('worker stopped during start-up');
    expect(res.stderr).not.toContain('worker started');
  });
});
