-- Idempotent, like every migration after 0002_event_id. The shard claim's fencing token.
ALTER TABLE "backfill_shards" ADD COLUMN IF NOT EXISTS "epoch" integer DEFAULT 0 NOT NULL;
