// The dependency rule, checked by `npm test` (npm run depcheck): apps → control → engine → shared.
// No app imports another app; packages never import an app, nor a layer above their own; no cycles;
// a package is reached through its name and exports (never by a relative path into its files).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-app-imports-app',
      comment: 'Apps are deployables: share code through a package, not by importing another app.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'no-package-imports-app',
      comment: 'Packages are layers under the apps.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^apps/' },
    },
    {
      name: 'shared-is-the-bottom',
      comment: 'packages/shared (event-id, schema, settings) depends on no other workspace package.',
      severity: 'error',
      from: { path: '^packages/shared/src/' },
      to: { path: '^packages/(?!shared/)' },
    },
    {
      name: 'engine-imports-only-shared',
      comment: 'The engine sits on shared only: not on the control plane or dev tooling.',
      severity: 'error',
      from: { path: '^packages/engine/src/' },
      to: { path: '^packages/(?!engine/|shared/)' },
    },
    {
      name: 'package-tests-stay-below-their-layer',
      comment: 'Tests of a layer may use dev tooling (demo-data), never a layer above their own.',
      severity: 'error',
      from: { path: '^packages/(shared|engine)/test/' },
      to: { path: '^packages/control/' },
    },
    {
      name: 'control-imports-engine-and-shared',
      comment: 'The control plane sits on the engine and shared; dev tooling (demo-data) is not its concern.',
      severity: 'error',
      from: { path: '^packages/control/src/' },
      to: { path: '^packages/(?!control/|engine/|shared/)' },
    },
    {
      name: 'operator-sits-on-the-control-plane',
      comment:
        'The operator plane (HTTP API, page, fleet metrics) uses control, engine and shared: no dev tooling.',
      severity: 'error',
      from: { path: '^packages/operator/src/' },
      to: { path: '^packages/(?!operator/|control/|engine/|shared/)' },
    },
    {
      name: 'demo-data-is-tooling',
      comment: 'Dev tooling may use the engine and shared, never the control plane.',
      severity: 'error',
      from: { path: '^packages/demo-data/' },
      to: { path: '^packages/control/' },
    },
    {
      name: 'no-reaching-into-packages',
      comment:
        'Another package is imported by its name and exports, never by a relative path into its files.',
      severity: 'error',
      from: { path: '^(packages|apps)/([^/]+)/' },
      to: { path: '^(packages|apps)/', pathNot: '^$1/$2/', dependencyTypes: ['local'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    enhancedResolveOptions: {
      // Workspace packages resolve to their TypeScript sources, as vitest resolves them.
      conditionNames: ['@backfill/source', 'import', 'node', 'default'],
      exportsFields: ['exports'],
      mainFields: ['module', 'main', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
