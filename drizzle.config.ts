import { defineConfig } from 'drizzle-kit';

// Migrations are generated from packages/shared/src/schema.ts and committed. They are applied by
// `backfill migrate` (not `drizzle-kit migrate`): it adds lock_timeout retries around drizzle's
// migrator and builds ix_run_logs_event_id CONCURRENTLY outside its transaction.
export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/shared/src/schema.ts',
  out: './packages/shared/drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/backfill' },
});
