-- Adding a nullable column without a default only touches the catalog (instant), but it needs an
-- ACCESS EXCLUSIVE lock for that moment: `backfill migrate` runs this under lock_timeout with retries.
-- Idempotent, as every migration after this one must be (see `backfill migrate --down`).
ALTER TABLE "run_logs" ADD COLUMN IF NOT EXISTS "event_id" varchar;
-- ix_run_logs_event_id is in the schema (and the snapshot) but NOT built here: drizzle runs every
-- pending file in one transaction and CREATE INDEX CONCURRENTLY cannot run in a transaction.
-- `backfill migrate` builds it CONCURRENTLY right after this migration (or `backfill index` later).
