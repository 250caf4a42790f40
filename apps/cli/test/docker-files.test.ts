// The Dockerfile and docker-compose.yml, checked without Docker (no engine runs here): every program,
// flag and variable they use is one the programs accept; the image is a supported Node line, runs as
// non-root under an init, health-checks the worker's own endpoint and copies only what exists; the
// compose file pins its images, binds ports to 127.0.0.1 and health-checks over TCP.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ACCEPTED_ENV, unknownFlags } from './program-contract.js';

const root = new URL('../../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

/** Dockerfile instructions, continuation lines joined. */
function instructions(text: string): Array<{ op: string; arg: string }> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), arg: m[2]! };
    });
}

describe('Dockerfile', () => {
  const ins = instructions(read('Dockerfile'));
  const json = (op: string) => JSON.parse(ins.filter((i) => i.op === op).at(-1)!.arg) as string[];

  it('builds on a supported Node line and runs as non-root under tini', () => {
    for (const f of ins.filter((i) => i.op === 'FROM')) expect(f.arg).toMatch(/^node:(2[2-9]|[3-9]\d)-/);
    expect(ins.filter((i) => i.op === 'USER').at(-1)?.arg).toBe('node');
    expect(json('ENTRYPOINT')).toEqual(['/usr/bin/tini', '--']);
  });

  it('its command is the worker with a metrics port, and the health check asks that port', () => {
    const cmd = json('CMD');
    expect(unknownFlags(cmd)).toEqual([]);
    const port = cmd[cmd.indexOf('--metrics-port') + 1];
    const health = ins.find((i) => i.op === 'HEALTHCHECK')!.arg;
    expect(health).toContain(`127.0.0.1:${port}/healthz`);
  });

  it('copies only paths that exist, and links the four programs', () => {
    for (const c of ins.filter((i) => i.op === 'COPY' && !i.arg.startsWith('--from'))) {
      for (const src of c.arg.split(/\s+/).slice(0, -1))
        expect(existsSync(new URL(src, root)), src).toBe(true);
    }
    const run = ins
      .filter((i) => i.op === 'RUN')
      .map((i) => i.arg)
      .join('\n');
    for (const bin of [
      'apps/cli/bin/backfill.js',
      'apps/worker/bin/backfill-worker.js',
      'apps/dashboard/bin/backfill-dashboard.js',
      'apps/api/bin/backfill-api.js',
    ]) {
      expect(run).toContain(bin);
      expect(existsSync(new URL(bin, root)), bin).toBe(true);
    }
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, Record<string, never>>;
  };
  const services = Object.entries(compose.services);

  it('pins image versions, binds ports to 127.0.0.1, health-checks over TCP', () => {
    for (const [name, s] of services) {
      const svc = s as { image?: string; ports?: string[]; healthcheck?: { test: string[] } };
      if (svc.image) expect(svc.image, name).toMatch(/^[\w/.-]+:\d+\.\d+(\.\d+)?$/);
      for (const p of svc.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/);
      if (svc.healthcheck) expect(svc.healthcheck.test.join(' '), name).toMatch(/127\.0\.0\.1/);
    }
  });

  it('runs only programs, flags and variables the image has', () => {
    let checked = 0;
    for (const [name, s] of services) {
      const svc = s as { command?: string[]; environment?: Record<string, string> };
      if (!svc.command || (svc as { image?: string }).image) continue;
      expect(unknownFlags(svc.command), name).toEqual([]);
      for (const k of Object.keys(svc.environment ?? {})) expect(ACCEPTED_ENV, `${name}: ${k}`).toContain(k);
      checked++;
    }
    expect(checked).toBe(4); // migrate, worker, dashboard, api;
  });

  it('matches the defaults of the code (DATABASE_URL and REDIS_URL)', () => {
    const pg = compose.services.postgres as unknown as { environment: Record<string, string> };
    expect(pg.environment.POSTGRES_DB).toBe('backfill');
    expect(read('docker-compose.yml')).toContain('127.0.0.1:5432:5432');
    expect(read('docker-compose.yml')).toContain('127.0.0.1:6379:6379');
  });
});
