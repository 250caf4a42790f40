import { defineConfig } from 'vitest/config';

// Tests import workspace packages from source (the "@backfill/source" export condition), so a test run
// never depends on a stale dist/. Child processes spawned by tests run the compiled CLI, which
// `npm test` builds first (typecheck builds every package).
export default defineConfig({
  resolve: { conditions: ['@backfill/source'] },
  ssr: { resolve: { conditions: ['@backfill/source'], externalConditions: ['@backfill/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
