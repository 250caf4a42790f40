// Spawning the CLI from Node (demo workers): the same Node flags `npx backfill` gets from the
// launcher's shebang line, with the Node binary that runs us (it may not be the one on PATH).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI_BIN = fileURLToPath(new URL('../bin/backfill.js', import.meta.url));

/** The `--flags` after `node` on the launcher's `#!/usr/bin/env -S node …` line. */
export function launcherNodeFlags(bin = CLI_BIN): string[] {
  const shebang = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  return shebang.startsWith('#!') ? shebang.split(/\s+/).filter((t) => t.startsWith('--')) : [];
}

/** [command, args] that run `backfill <args>` as the launcher would. */
export function cliCommand(args: string[]): [string, string[]] {
  return [process.execPath, [...launcherNodeFlags(), CLI_BIN, ...args]];
}
