import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';

// The unit tests of the pure core, for Stryker (stryker.config.mjs): no database, no Redis, no build, no
// global setup, so each mutant's run takes a moment. `npx vitest run -c vitest.mutation.config.ts` runs
// the same set by hand.
const root = path.dirname(fileURLToPath(import.meta.url));

// Stryker runs this config in a copy of the repository (a sandbox) whose node_modules is a link to the
// real one, so `@backfill/engine/…` would resolve through the workspace links to the real sources, not
// to the sandbox's mutated copies. Resolve those names to the sources next to this file instead.
function workspaceSources(): Plugin {
  return {
    name: 'backfill-workspace-sources',
    enforce: 'pre',
    resolveId(id) {
      const m = /^@backfill\/([a-z-]+)(\/[a-z-]+)?$/.exec(id);
      if (!m) return null;
      const dir = path.join(root, 'packages', m[1]!);
      const exportsMap = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).exports ?? {};
      const entry = exportsMap[`.${m[2] ?? ''}`];
      const source = typeof entry === 'object' ? entry['@backfill/source'] : undefined;
      return typeof source === 'string' ? path.join(dir, source) : null;
    },
  };
}

export default defineConfig({
  plugins: [workspaceSources()],
  test: {
    include: [
      'packages/shared/test/event-id-golden.test.ts',
      'packages/shared/test/event-id-errors.test.ts',
      'packages/shared/test/event-id-property.test.ts',
      'packages/shared/test/event-id-edges.test.ts',
      'packages/shared/test/event-id-for-insert.test.ts',
      'packages/shared/test/settings.test.ts',
      'packages/engine/test/pack.test.ts',
      'packages/engine/test/state-table.test.ts',
      'packages/engine/test/retry-policy.test.ts',
      'test-support/mutation-loads.test.ts',
    ],
    setupFiles: ['./test-support/fast-check-seed.ts'],
    // One seed for every run: a mutant is killed or not, never by the luck of the draw.
    env: { FC_SEED: process.env.FC_SEED ?? '20240611' },
  },
});
