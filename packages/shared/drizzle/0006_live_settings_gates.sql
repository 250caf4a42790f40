-- Idempotent, like every migration after 0002_event_id: run events (settings changes, holds), the
-- workers' heartbeats, and each shard's current batch size.
CREATE TABLE IF NOT EXISTS "backfill_run_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"run_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"message" text NOT NULL,
	"details" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "backfill_run_events_run_id_backfill_runs_id_fk" FOREIGN KEY ("run_id")
		REFERENCES "public"."backfill_runs"("id") ON DELETE cascade ON UPDATE no action
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "backfill_workers" (
	"worker_id" text PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"heartbeat_at" timestamp with time zone NOT NULL,
	"info" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "backfill_shards" ADD COLUMN IF NOT EXISTS "batch_size" integer;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "ix_backfill_run_events_run" ON "backfill_run_events" USING btree ("run_id","id");
