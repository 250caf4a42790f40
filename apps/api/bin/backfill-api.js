#!/usr/bin/env node
// Thin launcher: the API is compiled TypeScript (built by `npm ci` through the root `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    'backfill-api: not built yet. Run `npm ci` (or `npm run build`) at the repository root.\n',
  );
  process.exit(2);
}
await import(main.href);
