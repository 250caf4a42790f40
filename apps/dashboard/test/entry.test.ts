// The dashboard deployable's own entry: a signal while it is still connecting is an orderly exit 0.
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collect, waitForLog } from '../../../test-support/cli.js';

const DASHBOARD = fileURLToPath(new URL('../bin/backfill-dashboard.js', import.meta.url));

describe('backfill-dashboard entry', () => {
  it('a SIGTERM while it is still connecting is an orderly exit 0, not death by the signal', async () => {
    // A server that accepts and never answers: opening the control plane waits on it.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const child = spawn(process.execPath, [DASHBOARD, '--port', '0'], {
        env: {
          ...process.env,
          LOG_LEVEL: 'info',
          DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const result = collect(child);
      await waitForLog(child, (l) => l.msg === 'dashboard starting');
      child.kill('SIGTERM');
      const res = await result;
      expect(res.signal).toBeNull();
      expect(res.code).toBe(0);
      expect(res.stderr).toContain('dashboard stopped during start-up');
      expect(res.stderr).not.toContain('dashboard at');
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
