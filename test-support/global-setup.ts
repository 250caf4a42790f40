// vitest globalSetup: runs once, in the main process, before any test file.
// 1. Builds every workspace (tests spawn the compiled dist/ of apps/cli and apps/worker), so a test run
//    never uses a stale build and no test file has to build anything itself.
// 2. Migrates a template database to head once; test files copy it (migratedDatabase in db.ts) with
//    CREATE DATABASE … TEMPLATE instead of running the migration themselves.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ADMIN_URL, quoteIdent, RUN_DB_PREFIX, runTagFor, testDatabaseUrl, withClient } from './db.js';
import { captureLogger } from './logger.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
// Unique per run (this process): every database of the run is named bf_<tag>_…, so two suites can run at
// once, and one left by a run that died before cleaning up is known by that run's process being gone.
const RUN_TAG = runTagFor(process.pid);

function build(): void {
  const started = Date.now();
  const res = spawnSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error || res.status !== 0) {
    const why = res.error?.message ?? `exit ${res.status ?? res.signal}`;
    throw new Error(
      `global setup: \`npx turbo run build\` failed (${why}):\n${res.stdout ?? ''}${res.stderr ?? ''}`,
    );
  }
  console.info(`global setup: built every workspace in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
};

async function dropDatabase(name: string): Promise<void> {
  await withClient(ADMIN_URL, (admin) =>
    admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
  );
}

/** Databases (templates, test databases) of runs that died before cleaning up: their process is gone. */
async function dropOrphans(): Promise<void> {
  const { rows } = await withClient(ADMIN_URL, (admin) =>
    admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [
      'bf_r',
    ]),
  );
  for (const { datname } of rows) {
    const pid = Number(RUN_DB_PREFIX.exec(datname)?.[1]);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) {
      await dropDatabase(datname);
    }
  }
}

async function migratedTemplate(): Promise<string> {
  const name = `bf_${RUN_TAG}_template_migrated`;
  await dropDatabase(name);
  await withClient(ADMIN_URL, (admin) => admin.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const { migrateUp, DEFAULT_LOCK_POLICY } = await import('@backfill/engine/migrate');
  const { logger, lines } = captureLogger('warn');
  try {
    await migrateUp({
      databaseUrl: testDatabaseUrl(name),
      index: 'concurrent',
      logger,
      ...DEFAULT_LOCK_POLICY,
    });
  } catch (err) {
    await dropDatabase(name).catch(() => {});
    throw new Error(`global setup: migrating template database ${name} failed: ${String(err)}`, {
      cause: err,
    });
  }
  if (lines.length > 0) console.warn(`global setup: migrate logged ${JSON.stringify(lines)}`);
  // CREATE DATABASE … TEMPLATE needs nobody connected to the template: end whatever is (nothing should
  // be), then refuse new connections (autovacuum's included) for as long as the suite runs.
  await withClient(ADMIN_URL, async (admin) => {
    await admin.query(`ALTER DATABASE ${quoteIdent(name)} WITH ALLOW_CONNECTIONS false`);
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
  });
  return name;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  build();
  await dropOrphans();
  const template = await migratedTemplate();
  project.provide('bfRunTag', RUN_TAG);
  project.provide('bfMigratedTemplate', template);
  return async () => {
    await dropDatabase(template);
  };
}
