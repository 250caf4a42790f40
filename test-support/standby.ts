// A real primary and streaming standby of the machine's own PostgreSQL binaries, in a temporary
// directory on free ports, for the replication-lag gate: initdb, pg_basebackup -R, pg_ctl. PostgreSQL
// refuses to run as root, so as root every command runs as the `postgres` user. When any step cannot
// be done here, start fails with the reason (a test that needs it fails, never passes silently).
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StandbyPair {
  primaryUrl: string;
  standbyUrl: string;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) throw new Error(`cannot build a standby: no PostgreSQL binaries under ${root}`);
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  const dir = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')));
  if (!dir) throw new Error(`cannot build a standby: no initdb under ${root}/*/bin`);
  return dir;
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

const asRoot = process.getuid?.() === 0;

function run(bin: string, args: string[]): void {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const res = spawnSync(cmd, argv, { encoding: 'utf8', cwd: tmpdir() });
  if (res.status !== 0) {
    throw new Error(
      `cannot build a standby: ${[bin, ...args].join(' ')} failed (${res.error?.message ?? `exit ${res.status}`}): ${res.stderr}${res.stdout}`,
    );
  }
}

/** A primary alone (standbyUrl empty): a server of the test's own, whose WAL nobody else writes. */
export const startPrimary = () => startStandbyPair({ standby: false });

export async function startStandbyPair(o: { standby?: boolean } = {}): Promise<StandbyPair> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'bf-standby-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const [pPort, sPort] = [await freePort(), await freePort()];
  const primary = join(dir, 'primary');
  const standby = join(dir, 'standby');
  const started: string[] = [];
  const stop = async () => {
    for (const d of started.reverse()) {
      try {
        run(join(bin, 'pg_ctl'), ['-D', d, '-m', 'immediate', 'stop']);
      } catch {
        // already down
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run(join(bin, 'initdb'), ['-D', primary, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    appendFileSync(
      join(primary, 'postgresql.conf'),
      [
        `port = ${pPort}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        'wal_level = replica',
        'max_wal_senders = 4',
        'fsync = off',
        '',
      ].join('\n'),
    );
    appendFileSync(join(primary, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
    run(join(bin, 'pg_ctl'), ['-D', primary, '-l', join(dir, 'primary.log'), '-w', 'start']);
    started.push(primary);
    if (o.standby === false)
      return { primaryUrl: `postgres://postgres@127.0.0.1:${pPort}/postgres`, standbyUrl: '', stop };
    run(join(bin, 'pg_basebackup'), [
      '-h',
      '127.0.0.1',
      '-p',
      String(pPort),
      '-U',
      'postgres',
      '-D',
      standby,
      '-R',
      '-X',
      'stream',
    ]);
    appendFileSync(join(standby, 'postgresql.conf'), `port = ${sPort}\n`);
    run(join(bin, 'pg_ctl'), ['-D', standby, '-l', join(dir, 'standby.log'), '-w', 'start']);
    started.push(standby);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    primaryUrl: `postgres://postgres@127.0.0.1:${pPort}/postgres`,
    standbyUrl: `postgres://postgres@127.0.0.1:${sPort}/postgres`,
    stop,
  };
}
