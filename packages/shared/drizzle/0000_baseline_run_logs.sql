-- Baseline. run_logs usually exists already in production (created by another tool): IF NOT EXISTS
-- makes this a no-op there; `backfill migrate` then checks the existing columns.
CREATE TABLE IF NOT EXISTS "run_logs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"run_id" uuid NOT NULL,
	"timestamp" timestamp with time zone DEFAULT now() NOT NULL,
	"level" text DEFAULT 'info' NOT NULL,
	"event_type" text NOT NULL,
	"message" text,
	"data" jsonb
);
