// The dashboard deployable's own entry: a signal while it is still connecting is an orderly exit 0.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sigtermWhileConnecting } from '../../../test-support/cli.js';

const DASHBOARD = fileURLToPath(new URL('../bin/backfill-dashboard.js', import.meta.url));

describe('backfill-dashboard entry', () => {
  it('a SIGTERM while it is still connecting is an orderly exit 0, not death by the signal', async () => {
    const res = await sigtermWhileConnecting(
      (databaseUrl) =>
        spawn(process.execPath, [DASHBOARD, '--port', '0'], {
          env: { ...process.env, LOG_LEVEL: 'info', DATABASE_URL: databaseUrl },
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      'dashboard starting',
    );
    expect(res.signal).toBeNull();
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('dashboard stopped during start-up');
    expect(res.stderr).not.toContain('dashboard at');
  });
});
