-- Idempotent, like every migration after 0002_event_id. For QUEUE_BACKEND=postgres (no Redis): the
-- shared rows-per-second budgets (rate-limiter-flexible's layout) and the per-second rows counters.
CREATE TABLE IF NOT EXISTS "backfill_rate_budget" (
	"key" varchar(255) PRIMARY KEY NOT NULL,
	"points" integer DEFAULT 0 NOT NULL,
	"expire" bigint
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "backfill_rate_seconds" (
	"queue" text NOT NULL,
	"second" bigint NOT NULL,
	"rows" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "backfill_rate_seconds_queue_second_pk" PRIMARY KEY("queue","second")
);
