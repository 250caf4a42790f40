// Running the built CLI as a child process, the way an operator does.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../apps/cli/bin/backfill.js', import.meta.url));
/** The worker deployable (what the Docker image's worker service runs). */
export const WORKER = fileURLToPath(new URL('../apps/worker/bin/backfill-worker.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function spawnCli(args: string[], env: Record<string, string> = {}, input?: string): ChildProcess {
  return spawnBin(CLI, args, env, input);
}

export function spawnWorker(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawnBin(WORKER, args, env);
}

function spawnBin(bin: string, args: string[], env: Record<string, string>, input?: string): ChildProcess {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  return child;
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return collect(spawnCli(args, env, input));
}

/** Resolves once the child's stderr has a JSON log line for which `match` is true. */
export function waitForLog(
  child: ChildProcess,
  match: (line: Record<string, unknown>) => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        try {
          if (match(JSON.parse(l))) {
            child.stderr!.off('data', onData);
            resolve();
            return;
          }
        } catch {
          // not a JSON log line
        }
      }
    };
    child.stderr!.on('data', onData);
    child.on('close', () => reject(new Error('process ended before the expected log line')));
  });
}

/**
 * A program caught while it starts: spawned with a DATABASE_URL whose server accepts and never
 * answers, sent SIGTERM once it logs `startingMsg`. Returns how it ended.
 */
export async function sigtermWhileConnecting(
  spawnIt: (databaseUrl: string) => ChildProcess,
  startingMsg: string,
): Promise<CliResult> {
  const held: Socket[] = [];
  const silent = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const child = spawnIt(`postgres://postgres@127.0.0.1:${port}/none`);
    const result = collect(child);
    await waitForLog(child, (l) => l.msg === startingMsg);
    child.kill('SIGTERM');
    return await result;
  } finally {
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
}
