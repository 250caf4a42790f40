import { defineConfig } from 'vitest/config';

// Tests import workspace packages from source (the "@backfill/source" export condition). Child processes
// spawned by tests run the compiled CLI and worker: the global setup builds every workspace first, so
// those are never stale either. It also migrates a template database once, which test files copy
// (migratedDatabase in test-support/db.ts); the setupFile drops each file's databases when it ends.
export default defineConfig({
  resolve: { conditions: ['@backfill/source'] },
  ssr: { resolve: { conditions: ['@backfill/source'], externalConditions: ['@backfill/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    globalSetup: ['./test-support/global-setup.ts'],
    setupFiles: ['./test-support/drop-databases.ts', './test-support/fast-check-seed.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most long files wait on rate-capped worker fleets, not on CPU: three at once on two cores took
    // 431 s against 517 s with two, every test passing.
    maxWorkers: 3,
  },
});
