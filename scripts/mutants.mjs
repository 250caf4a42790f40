#!/usr/bin/env node
// Named mutants: each one is a guard in the SQL (or around it) broken on purpose, with the tests that
// must notice. A guard whose mutant survives is a guard nothing checks.
//
//   node scripts/mutants.mjs                 every mutant (npm run test:mutation:sql)
//   node scripts/mutants.mjs NAME…           only these
//   node scripts/mutants.mjs --list          the names
//   --no-baseline   skip the unmutated run that proves the tests pass before anything is broken
//   --keep          keep the scratch copies (their paths are printed)
//
// Each mutant runs in its own scratch copy of the working tree (tracked and untracked-but-not-ignored
// files, so uncommitted tests count), with node_modules hard-linked (`cp -al`): the workspace symlinks
// in it are relative, so they resolve inside the copy, and nothing in the checkout is ever edited.
// vitest's global setup builds the copy's dist (the CLI and worker tests spawn it) and gives the copy's
// run its own databases. Mutants run one after another: the machine and its database are shared.
//
// Exit 0: every mutant killed. Exit 1: a mutant survived, or could not be judged (the copy did not
// build, no test ran, the baseline failed). Exit 2: the list is wrong (text not found exactly once).

import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * To add one: a unique name, the file, text that occurs exactly once in it, its replacement, and the
 * test files (relative to the repository root) that must fail. Keep each replacement valid TypeScript
 * and valid SQL: a mutant that does not build or parse proves nothing about the guard.
 */
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: entries quote TypeScript source, placeholders included
const MUTANTS = [
  {
    name: 'update-overwrites-app-ids',
    why: 'the batch UPDATE loses its guards (row version and missing id): an id the application writes mid-batch is overwritten',
    file: 'packages/engine/src/backfill/apply-batch.ts',
    find: "WHERE t.id = v.id${p.xmins ? ' AND t.xmin = v.xmin' : ''} AND ${missingEventId('t.')}",
    replace: 'WHERE t.id = v.id',
    tests: ['packages/engine/test/guards.test.ts'],
  },
  {
    name: 'update-ignores-row-version',
    why: 'the batch UPDATE no longer checks the row version read: a row edited mid-batch keeps the id of its old content',
    file: 'packages/engine/src/backfill/apply-batch.ts',
    find: "${p.xmins ? ' AND t.xmin = v.xmin' : ''}",
    replace: '',
    tests: ['packages/engine/test/stale-rows.test.ts'],
  },
  {
    name: 'writes-not-fenced',
    why: "a shard's writes no longer carry its claim's epoch: a worker stalled past its lock writes to a shard another worker took over",
    file: 'packages/engine/src/ledger/types.ts',
    find: 'shard: { runId: run.id, shardNo: shard.shardNo, epoch: shard.epoch },',
    replace: 'shard: { runId: run.id, shardNo: shard.shardNo },',
    tests: ['apps/worker/test/fencing.test.ts'],
  },
  {
    name: 'checkpoint-drops-skipped',
    why: "the batch's checkpoint never adds rows_skipped",
    file: 'packages/engine/src/backfill/apply-batch.ts',
    find: 'rows_skipped = rows_skipped + $5::int,',
    replace: 'rows_skipped = rows_skipped + 0 * $5::int,',
    tests: ['packages/engine/test/guards.test.ts'],
  },
  {
    name: 'completed-shard-keeps-error',
    why: 'a completed shard keeps the last_error of an earlier attempt',
    file: 'packages/engine/src/ledger/shards.ts',
    find: "{ runId, shardNo, to: 'completed', worker, clearError: true, ...(epoch !== undefined && { epoch }) },",
    replace: "{ runId, shardNo, to: 'completed', worker, ...(epoch !== undefined && { epoch }) },",
    tests: ['packages/engine/test/guards.test.ts'],
  },
  {
    name: 'null-count-scans-table',
    why: 'the remaining-NULL count can no longer use ix_run_logs_event_id: a full table scan',
    file: 'packages/engine/src/backfill/verify.ts',
    find: 'WHERE event_id IS NULL AND id + 0 BETWEEN',
    replace: "WHERE coalesce(event_id, '') = '' AND id + 0 BETWEEN",
    tests: ['packages/engine/test/guards.test.ts'],
  },
  {
    name: 'index-build-blocks-writes',
    why: 'CREATE INDEX without CONCURRENTLY: writes wait for the whole build',
    file: 'packages/engine/src/migrate/event-id-index.ts',
    find: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS',
    replace: 'CREATE INDEX IF NOT EXISTS',
    tests: ['packages/engine/test/migrate-online.test.ts'],
  },
  {
    name: 'budgets-unlimited',
    why: 'every rows-per-second budget (local and Redis) grants everything at once',
    file: 'packages/engine/src/backfill/rate-limit.ts',
    find: 'let left = rows;',
    replace: 'let left = 0;',
    tests: ['packages/engine/test/throttle.test.ts', 'packages/control/test/budgets.test.ts'],
  },
  {
    name: 'run-budget-per-worker',
    why: "each worker gets its own budget instead of the run's shared one: replicas multiply the rate",
    file: 'packages/control/src/worker/rate.ts',
    find: 'rowLimiter(store, `run-${runId}`, rowsPerSecond)',
    replace: 'rowLimiter(store, `run-${runId}-${Math.random()}`, rowsPerSecond)',
    tests: ['packages/control/test/budgets.test.ts'],
  },
];
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: end of the list

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Per mutant: generous, since the copy builds every workspace before its tests run. */
const RUN_TIMEOUT_MS = Number(process.env.MUTANTS_TIMEOUT_MS ?? 20 * 60_000);

function countOf(text, find) {
  let n = 0;
  for (let i = text.indexOf(find); i !== -1; i = text.indexOf(find, i + find.length)) n++;
  return n;
}

function mutate(root, m) {
  const path = join(root, m.file);
  const text = readFileSync(path, 'utf8');
  const n = countOf(text, m.find);
  if (n !== 1)
    throw new Error(`mutant ${m.name}: ${m.file} contains its text ${n} times, not once: ${m.find}`);
  writeFileSync(
    path,
    text.replace(m.find, () => m.replace),
  );
}

/** The working tree as git sees it: tracked files still present, plus untracked ones not ignored. */
function sourceFiles() {
  const res = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0) throw new Error(`git ls-files failed: ${res.stderr}`);
  return [...new Set(res.stdout.split('\0').filter(Boolean))].filter((f) => existsSync(join(ROOT, f)));
}

function scratchCopy(label, files) {
  const base = process.env.MUTANTS_TMPDIR ?? tmpdir();
  const dir = mkdtempSync(join(base, `bf-mutant-${label}-`));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(ROOT, f), join(dir, f), { verbatimSymlinks: true });
  }
  for (const nm of ['node_modules', ...workspaceDirs().map((w) => join(w, 'node_modules'))]) {
    if (!existsSync(join(ROOT, nm))) continue;
    const res = spawnSync('cp', ['-al', join(ROOT, nm), join(dir, nm)], { encoding: 'utf8' });
    if (res.status !== 0) {
      throw new Error(
        `cp -al ${nm} failed (hard links need the copy on the checkout's file system; set MUTANTS_TMPDIR): ${res.stderr}`,
      );
    }
    // Caches are rewritten in place, which through a hard link would edit the checkout's files.
    for (const cache of ['.vite', '.cache']) rmSync(join(dir, nm, cache), { recursive: true, force: true });
  }
  return dir;
}

function workspaceDirs() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const dirs = [];
  for (const pattern of pkg.workspaces ?? []) {
    if (!pattern.endsWith('/*')) {
      dirs.push(pattern);
      continue;
    }
    const parent = pattern.slice(0, -2);
    for (const e of readdirSync(join(ROOT, parent), { withFileTypes: true })) {
      if (e.isDirectory()) dirs.push(join(parent, e.name));
    }
  }
  return dirs;
}

let current = null; // { child, dir, keep }: what a Ctrl-C must clean up

/** Runs vitest on `tests` in `dir`; resolves with the JSON report's counts, or why there is none. */
function runVitest(dir, tests) {
  const report = join(dir, '.mutant-vitest.json');
  const log = join(dir, '.mutant-vitest.log');
  return new Promise((resolve) => {
    const child = spawn('npx', ['vitest', 'run', ...tests, '--reporter=json', `--outputFile=${report}`], {
      cwd: dir,
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stopping it stops vitest's workers and the processes tests spawn too.
      detached: true,
    });
    current.child = child;
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stopGroup(child);
    }, RUN_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      current.child = null;
      writeFileSync(log, out);
      let json = null;
      try {
        json = JSON.parse(readFileSync(report, 'utf8'));
      } catch {
        // no report: vitest did not get as far as running tests (a build or setup failure)
      }
      const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
      resolve({ code, timedOut, json, log, tail: plain.split('\n').slice(-40).join('\n') });
    });
  });
}

function failedNames(json) {
  return json.testResults.flatMap((f) =>
    f.assertionResults.filter((a) => a.status === 'failed').map((a) => a.fullName ?? a.title),
  );
}

/** killed: a test failed. survived: tests ran and all passed. error: nothing judged it. */
function judge(run) {
  const j = run.json;
  if (run.timedOut) return { outcome: 'killed', detail: `timed out after ${RUN_TIMEOUT_MS / 1000} s` };
  if (!j || j.numTotalTests === 0) return { outcome: 'error', detail: `no test ran (exit ${run.code})` };
  if (j.numFailedTests > 0) {
    return {
      outcome: 'killed',
      detail: `${j.numFailedTests}/${j.numTotalTests} failed: ${failedNames(j).slice(0, 2).join('; ')}`,
    };
  }
  // A file whose hooks failed has no failed test of its own; the baseline showed the files do run.
  if (j.numFailedTestSuites > 0) {
    return { outcome: 'killed', detail: `${j.numFailedTestSuites} test file(s) or suite(s) failed to run` };
  }
  if (run.code !== 0) return { outcome: 'error', detail: `every test passed but vitest exited ${run.code}` };
  return { outcome: 'survived', detail: `${j.numPassedTests}/${j.numTotalTests} passed` };
}

async function inCopy(label, files, keep, fn) {
  const dir = scratchCopy(label, files);
  current = { child: null, dir, keep };
  try {
    return await fn(dir);
  } finally {
    if (keep) console.log(`  kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    current = null;
  }
}

function stopGroup(child) {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

function onSignal(sig) {
  if (current?.child) stopGroup(current.child);
  if (current && !current.keep) rmSync(current.dir, { recursive: true, force: true });
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

function table(rows) {
  const head = ['mutant', 'file', 'outcome', 'seconds', 'detail'];
  // The full detail was printed as each mutant finished; the table keeps one line each.
  const short = (d) => (d.length > 80 ? `${d.slice(0, 79)}…` : d);
  const cells = rows.map((r) => [
    r.name,
    r.file,
    r.outcome.toUpperCase(),
    r.seconds.toFixed(0),
    short(r.detail),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => c.map((v, i) => (i === 4 ? v : v.padEnd(widths[i]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

async function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const names = argv.filter((a) => !a.startsWith('--'));
  if (flags.has('--list')) {
    for (const m of MUTANTS) console.log(`${m.name.padEnd(34)} ${m.file}  (${m.why})`);
    return 0;
  }
  const seen = new Set();
  for (const m of MUTANTS) {
    if (seen.has(m.name)) throw new Error(`two mutants are named ${m.name}`);
    seen.add(m.name);
  }
  const unknown = names.filter((n) => !seen.has(n));
  if (unknown.length) {
    console.error(`unknown mutant(s): ${unknown.join(', ')} (see --list)`);
    return 2;
  }
  const selected = names.length ? MUTANTS.filter((m) => names.includes(m.name)) : MUTANTS;
  // Every text must be found before anything runs: a stale entry fails at once, not after an hour.
  const stale = [];
  for (const m of selected) {
    const path = join(ROOT, m.file);
    const n = existsSync(path) ? countOf(readFileSync(path, 'utf8'), m.find) : 0;
    if (n !== 1) stale.push(`${m.name}: ${m.file} contains its text ${n} times, not once: ${m.find}`);
    for (const t of m.tests) if (!existsSync(join(ROOT, t))) stale.push(`${m.name}: no test file ${t}`);
  }
  if (stale.length) {
    console.error(`the mutant list does not match the sources:\n  ${stale.join('\n  ')}`);
    return 2;
  }

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  const files = sourceFiles();
  const keep = flags.has('--keep');

  if (!flags.has('--no-baseline')) {
    const tests = [...new Set(selected.flatMap((m) => m.tests))];
    console.log(`baseline: ${tests.length} test file(s) on the unmutated tree`);
    const t0 = Date.now();
    const run = await inCopy('baseline', files, keep, (dir) => runVitest(dir, tests));
    const { outcome, detail } = judge(run);
    console.log(
      `  ${outcome === 'survived' ? 'passed' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${detail}`,
    );
    if (outcome !== 'survived') {
      console.error(`the tests do not pass without a mutation, so no mutant can be judged:\n${run.tail}`);
      return 1;
    }
  }

  const results = [];
  for (const m of selected) {
    console.log(`mutant ${m.name}: ${m.file}`);
    const t0 = Date.now();
    const run = await inCopy(m.name, files, keep, (dir) => {
      mutate(dir, m);
      return runVitest(dir, m.tests);
    });
    const { outcome, detail } = judge(run);
    const seconds = (Date.now() - t0) / 1000;
    console.log(`  ${outcome} in ${seconds.toFixed(0)} s: ${detail}`);
    if (outcome === 'error') console.log(run.tail);
    results.push({ name: m.name, file: m.file, outcome, seconds, detail });
  }

  console.log(`\n${table(results)}`);
  const bad = results.filter((r) => r.outcome !== 'killed');
  const wall = ((Date.now() - started) / 1000).toFixed(0);
  console.log(
    `\n${results.length - bad.length}/${results.length} killed` +
      (bad.length ? `; not killed: ${bad.map((r) => `${r.name} (${r.outcome})`).join(', ')}` : '') +
      `. Wall time ${wall} s.`,
  );
  return bad.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
