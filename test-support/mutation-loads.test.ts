// Run by vitest.mutation.config.ts only. Stryker's vitest runner sees a test file that fails to load as
// a file with no tests, so a mutant that makes a module throw while loading (an emptied state table, a
// broken UUID pattern failing on the namespace constant) would count as survived although every test
// file importing that module fails. Loading each mutated module inside a test turns that into a failure.
import { expect, it } from 'vitest';

const modules: Record<string, () => Promise<object>> = {
  'shared/event-id': () => import('../packages/shared/src/event-id/index.js'),
  'shared/settings': () => import('../packages/shared/src/settings.js'),
  'engine/plan/pack': () => import('../packages/engine/src/plan/pack.js'),
  'engine/ledger/states': () => import('../packages/engine/src/ledger/states.js'),
  'engine/backfill/retry-policy': () => import('../packages/engine/src/backfill/retry-policy.js'),
  'engine/migrate/lock-retry': () => import('../packages/engine/src/migrate/lock-retry.js'),
};

for (const [name, load] of Object.entries(modules)) {
  it(`${name} loads`, async () => {
    expect(Object.keys(await load()).length).toBeGreaterThan(0);
  });
}
