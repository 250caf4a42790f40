-- Idempotent, like every migration after 0002_event_id.
ALTER TABLE "backfill_runs" ADD COLUMN IF NOT EXISTS "queue" text;
