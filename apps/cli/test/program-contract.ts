// What a deploy file may ask of a program: its bins, each one's flags, and the environment variables
// the programs read. Shared by the tests of deploy/kubernetes, the Dockerfile and docker-compose.yml.
import { execFileSync } from 'node:child_process';
import { WORKER_FLAGS } from '@backfill/control/flags';
import { EnvSchema, QUEUE_BACKEND_FLAG } from '@backfill/engine/config';
import { DASHBOARD_FLAGS } from '@backfill/operator/flags';
import { buildProgram } from '../src/program.js';

/**
 * The API's own help (no app imports another): its flags, and the variables of its Environment section.
 */
const API_HELP = execFileSync(
  process.execPath,
  [new URL('../../api/bin/backfill-api.js', import.meta.url).pathname, '--help'],
  { encoding: 'utf8' },
);
const API_FLAGS = new Set(API_HELP.match(/--[a-z][a-z-]*/g) ?? []);
const API_ENV = [...API_HELP.split('Environment:')[1]!.matchAll(/^ {2}([A-Z_]+) /gm)].map((m) => m[1]!);

export const ACCEPTED_ENV = new Set([...Object.keys(EnvSchema.shape), 'DASHBOARD_TOKEN', ...API_ENV]);
const flagNames = (specs: readonly { flags: string }[]) =>
  new Set([...specs, QUEUE_BACKEND_FLAG].map((f) => f.flags.split(' ')[0]!));

/** The flags `argv` (bin first) may use; throws for a bin or command the image does not have. */
export function knownFlags(argv: string[]): Set<string> {
  const [bin, command] = argv;
  if (bin === 'backfill-worker') return flagNames(WORKER_FLAGS);
  if (bin === 'backfill-dashboard') return flagNames(DASHBOARD_FLAGS);
  if (bin === 'backfill-api') return API_FLAGS;
  if (bin === 'backfill') {
    const cmd = buildProgram().commands.find((c) => c.name() === command);
    if (!cmd) throw new Error(`backfill has no command ${command}`);
    return new Set([...cmd.options.map((o) => o.long!), QUEUE_BACKEND_FLAG.flags.split(' ')[0]!]);
  }
  throw new Error(`the image has no program ${bin}`);
}

/** The flags of argv that `knownFlags` does not know (empty: all fine). */
export function unknownFlags(argv: string[]): string[] {
  const known = knownFlags(argv);
  return argv
    .filter((a) => a.startsWith('--'))
    .map((a) => a.split('=')[0]!)
    .filter((f) => !known.has(f));
}
