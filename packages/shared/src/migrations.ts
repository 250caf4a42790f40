// Where the committed drizzle migrations live, and their journal (tag ↔ timestamp).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** packages/shared/drizzle — the same path from src/ (tests) and dist/ (built code). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));

/** The migration that adds run_logs.event_id; `migrate --down` rewinds the journal to before it. */
export const EVENT_ID_MIGRATION_TAG = '0002_event_id';

export const EVENT_ID_INDEX_NAME = 'ix_run_logs_event_id';

export interface JournalEntry {
  idx: number;
  when: number;
  tag: string;
}

export function readJournal(folder = MIGRATIONS_FOLDER): JournalEntry[] {
  const journal = JSON.parse(readFileSync(`${folder}/meta/_journal.json`, 'utf8')) as {
    entries: JournalEntry[];
  };
  return journal.entries;
}
