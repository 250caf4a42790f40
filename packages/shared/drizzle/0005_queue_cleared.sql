-- Idempotent, like every migration after 0002_event_id. When a finished run's queue was removed.
ALTER TABLE "backfill_runs" ADD COLUMN IF NOT EXISTS "queue_cleared_at" timestamp with time zone;
