// Shared bench helpers: databases copied from one template so every method starts from the same table.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const CLI = fileURLToPath(new URL('../apps/cli/bin/backfill.js', import.meta.url));
export const WORKER = fileURLToPath(new URL('../apps/worker/bin/backfill-worker.js', import.meta.url));

/**
 * The NODE_OPTIONS the Docker image runs every program with (its Dockerfile, read here so the two never
 * differ): the bench measures the programs as they are deployed.
 */
export const IMAGE_NODE_OPTIONS = /^ENV NODE_OPTIONS=(.+)$/m.exec(
  readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8'),
)?.[1];

/** The environment of a program the bench starts: this one's, the image's NODE_OPTIONS, then `env`. */
export const programEnv = (env = {}) => ({
  ...process.env,
  ...(IMAGE_NODE_OPTIONS && { NODE_OPTIONS: IMAGE_NODE_OPTIONS }),
  ...env,
});

export function dbUrl(name) {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function admin(sql) {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function withDb(url, fn) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A fresh copy of the template database (a file copy: seconds, and identical every time), followed by a
 * CHECKPOINT: the copy writes the whole database to the WAL, and without one the checkpoint it triggers
 * lands inside whichever measurement comes next. Every method starts from the same clean state.
 */
export async function copyOf(template, name) {
  await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  await admin('CHECKPOINT');
  return dbUrl(name);
}

export async function dropDb(name) {
  await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** Runs the CLI; resolves with its exit code, stdout, stderr. */
export function cli(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: programEnv({ LOG_LEVEL: 'warn', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export const fmt = (n, digits = 0) =>
  typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : String(n);
