import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENT_ID_MIGRATION_TAG, MIGRATIONS_FOLDER, readJournal } from '@backfill/shared';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('committed drizzle migrations', () => {
  it('match the schema: drizzle-kit generate yields no new migration', () => {
    // drizzle-kit only takes an --out relative to the working directory.
    mkdirSync(join(repoRoot, 'node_modules/.cache'), { recursive: true });
    const out = mkdtempSync(join(repoRoot, 'node_modules/.cache/drizzle-check-'));
    try {
      cpSync(MIGRATIONS_FOLDER, out, { recursive: true });
      const before = readdirSync(out).sort();
      const run = spawnSync(
        'npx',
        [
          'drizzle-kit',
          'generate',
          '--dialect',
          'postgresql',
          '--schema',
          'packages/shared/src/schema.ts',
          '--out',
          relative(repoRoot, out),
        ],
        { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      expect(run.status, run.stderr).toBe(0);
      expect(`${run.stdout}${run.stderr}`).toMatch(/No schema changes/);
      expect(readdirSync(out).sort()).toEqual(before);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('keep CREATE INDEX CONCURRENTLY out of drizzle (it cannot run inside its transaction)', () => {
    for (const e of readJournal()) {
      const sql = readFileSync(join(MIGRATIONS_FOLDER, `${e.tag}.sql`), 'utf8');
      expect(sql).not.toMatch(/^\s*CREATE\s+(UNIQUE\s+)?INDEX[^;]*ix_run_logs_event_id/im);
    }
  });

  it('make every migration from the event_id step on idempotent (migrate --down rewinds to it)', () => {
    const journal = readJournal();
    const from = journal.findIndex((e) => e.tag === EVENT_ID_MIGRATION_TAG);
    expect(from).toBeGreaterThan(0);
    for (const e of journal.slice(from)) {
      const sql = readFileSync(join(MIGRATIONS_FOLDER, `${e.tag}.sql`), 'utf8').replace(/--.*$/gm, '');
      for (const stmt of sql
        .split('--> statement-breakpoint')
        .map((s) => s.trim())
        .filter(Boolean)) {
        expect(stmt, `${e.tag}: ${stmt}`).toMatch(/IF (NOT )?EXISTS|^CREATE OR REPLACE FUNCTION /i);
      }
    }
  });
});
