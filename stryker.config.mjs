// Mutation testing of the pure core (npm run test:mutation): event-id, the settings schema, shard
// packing, the state tables, which faults a batch retries, and the DDL retries' backoff. Only the
// unit tests of those modules run (vitest.mutation.config.ts); the database-backed suites are npm test.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  mutate: [
    'packages/shared/src/event-id/*.ts',
    'packages/shared/src/settings.ts',
    'packages/engine/src/plan/pack.ts',
    'packages/engine/src/ledger/states.ts',
    'packages/engine/src/backfill/retry-policy.ts',
    // backoffDelay only: withLockRetries waits on PostgreSQL locks (migrate.test.ts covers it).
    'packages/engine/src/migrate/lock-retry.ts:19-22',
  ],
  coverageAnalysis: 'perTest',
  ignorePatterns: ['dist', 'bench', '.turbo', '.ci'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  thresholds: { high: 90, low: 80, break: 80 },
};
