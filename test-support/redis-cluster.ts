// A real 3-master Redis Cluster on loopback ports, for the tests: redis-server --cluster-enabled per
// node (nothing persisted), then redis-cli --cluster create. A node can be killed and started again
// with the same identity (its nodes.conf is kept), as a restarted master would be.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisCluster {
  ports: number[];
  /** A seed URL for the programs: redis+cluster://127.0.0.1:<first port>. */
  url: string;
  /** Kills the node on `port` (SIGKILL) and starts it again; resolves once the cluster is ok again. */
  restart(port: number): Promise<void>;
  /** The master port owning the slot of `key`. */
  ownerOf(key: string): number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const cli = (port: number, ...args: string[]) => {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run redis-cli: ${r.error.message}`);
  return r.stdout;
};

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`redis cluster: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bf-redis-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const procs = new Map<number, ChildProcess>();
  const start = (port: number) => {
    const p = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    );
    p.once('error', () => {});
    procs.set(port, p);
  };
  const ready = (port: number) => cli(port, 'ping').trim() === 'PONG';
  const stateOk = () => ports.every((p) => /cluster_state:ok/.test(cli(p, 'cluster', 'info')));
  try {
    for (const p of ports) start(p);
    await until('the nodes to answer', () => ports.every(ready));
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stderr}${create.stdout}`);
    await until('cluster_state:ok', stateOk);
  } catch (err) {
    for (const p of procs.values()) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ports,
    url: `redis+cluster://127.0.0.1:${ports[0]}`,
    ownerOf(key) {
      const slot = Number(cli(ports[0]!, 'cluster', 'keyslot', key).trim());
      for (const line of cli(ports[0]!, 'cluster', 'nodes').split('\n')) {
        const f = line.split(' ');
        if (!f[2]?.includes('master')) continue;
        for (const range of f.slice(8)) {
          const [a, b] = range.split('-').map(Number);
          if (slot >= a! && slot <= (b ?? a!)) return Number(/:(\d+)@/.exec(f[1]!)![1]);
        }
      }
      throw new Error(`no master owns slot ${slot}`);
    },
    async restart(port) {
      const p = procs.get(port)!;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
      start(port);
      await until('the restarted node', () => ready(port));
      await until('cluster_state:ok after the restart', stateOk);
    },
    async stop() {
      for (const p of procs.values()) p.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
