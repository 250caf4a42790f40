// The dependency rule (`npm run depcheck`, part of `npm test`) fails on each import it forbids: shown on a
// scratch workspace laid out like ours, with the repository's own rule file.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const depcruise = join(repo, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const scratch = mkdtempSync(join(tmpdir(), 'bf-depcheck-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(scratch, path)), { recursive: true });
  writeFileSync(join(scratch, path), text);
}

function workspacePackage(dir: string, name: string): void {
  write(
    `${dir}/package.json`,
    JSON.stringify({ name, type: 'module', exports: { '.': { '@backfill/source': './src/index.ts' } } }),
  );
  mkdirSync(join(scratch, 'node_modules/@backfill'), { recursive: true });
  symlinkSync(join(scratch, dir), join(scratch, 'node_modules', name));
}

/** Violations as [rule, from → to], from depcruise's JSON report. */
function cruise(): { status: number | null; violations: string[] } {
  const run = (outputType: string) =>
    spawnSync(
      process.execPath,
      [depcruise, 'packages', 'apps', '--config', '.dependency-cruiser.cjs', '--output-type', outputType],
      { cwd: scratch, encoding: 'utf8' },
    );
  // The exit status as `npm run depcheck` sees it (its default `err` output), the details as JSON.
  const status = run('err').status;
  const res = run('json');
  const report = JSON.parse(res.stdout) as {
    summary: { violations: Array<{ rule: { name: string }; from: string; to: string }> };
  };
  return {
    status,
    violations: report.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort(),
  };
}

describe('dependency rule', () => {
  it('passes a workspace that keeps it, fails on each forbidden import', () => {
    copyFileSync(join(repo, '.dependency-cruiser.cjs'), join(scratch, '.dependency-cruiser.cjs'));
    workspacePackage('packages/shared', '@backfill/shared');
    workspacePackage('packages/engine', '@backfill/engine');
    workspacePackage('packages/control', '@backfill/control');
    write('packages/shared/src/index.ts', 'export const shared = 1;\n');
    write(
      'packages/engine/src/index.ts',
      "import { shared } from '@backfill/shared';\nexport const engine = shared;\n",
    );
    write(
      'packages/control/src/index.ts',
      "import { engine } from '@backfill/engine';\nexport const control = engine;\n",
    );
    write(
      'apps/cli/src/main.ts',
      "import { control } from '@backfill/control';\nexport const cli = control;\n",
    );
    write(
      'apps/worker/src/main.ts',
      "import { control } from '@backfill/control';\nexport const worker = control;\n",
    );
    const clean = cruise();
    expect(clean.violations).toEqual([]);
    expect(clean.status).toBe(0);

    // An app importing another app.
    write(
      'apps/worker/src/alias.ts',
      "import { cli } from '../../cli/src/main.js';\nexport const x = cli;\n",
    );
    // The engine importing the control plane (by name), and reaching into shared's files by path.
    write(
      'packages/engine/src/up.ts',
      "import { control } from '@backfill/control';\nexport const y = control;\n",
    );
    write(
      'packages/engine/src/deep.ts',
      "import { shared } from '../../shared/src/index.js';\nexport const z = shared;\n",
    );
    // A cycle.
    write('packages/shared/src/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
    write('packages/shared/src/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");

    const dirty = cruise();
    expect(dirty.status).not.toBe(0);
    expect(dirty.violations).toEqual(
      expect.arrayContaining([
        'no-app-imports-app: apps/worker/src/alias.ts → apps/cli/src/main.ts',
        'no-reaching-into-packages: apps/worker/src/alias.ts → apps/cli/src/main.ts',
        'engine-imports-only-shared: packages/engine/src/up.ts → packages/control/src/index.ts',
        'no-reaching-into-packages: packages/engine/src/deep.ts → packages/shared/src/index.ts',
        'no-circular: packages/shared/src/a.ts → packages/shared/src/b.ts',
      ]),
    );
  });
});
