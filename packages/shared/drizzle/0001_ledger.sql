CREATE TABLE "backfill_errors" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"table_name" text NOT NULL,
	"row_id" bigint NOT NULL,
	"reason" text NOT NULL,
	"run_name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "backfill_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"table_schema" text DEFAULT 'public' NOT NULL,
	"table_name" text NOT NULL,
	"event_id_version" integer NOT NULL,
	"status" text NOT NULL,
	"from_id" bigint NOT NULL,
	"to_id" bigint NOT NULL,
	"order" text DEFAULT 'asc' NOT NULL,
	"shard_rows" integer NOT NULL,
	"planner" text NOT NULL,
	"estimated_rows" bigint DEFAULT 0 NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "backfill_runs_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "backfill_shard_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"run_id" bigint NOT NULL,
	"shard_no" integer NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"worker" text,
	"error_class" text,
	"message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "backfill_shards" (
	"run_id" bigint NOT NULL,
	"shard_no" integer NOT NULL,
	"from_id" bigint NOT NULL,
	"to_id" bigint NOT NULL,
	"checkpoint_id" bigint,
	"status" text DEFAULT 'pending' NOT NULL,
	"estimated_rows" bigint DEFAULT 0 NOT NULL,
	"rows_updated" bigint DEFAULT 0 NOT NULL,
	"rows_skipped" bigint DEFAULT 0 NOT NULL,
	"batches" integer DEFAULT 0 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"parent_shard_no" integer,
	"worker" text,
	"last_error" text,
	"last_error_class" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "backfill_shards_run_id_shard_no_pk" PRIMARY KEY("run_id","shard_no")
);
--> statement-breakpoint
ALTER TABLE "backfill_shard_events" ADD CONSTRAINT "backfill_shard_events_run_id_backfill_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."backfill_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "backfill_shards" ADD CONSTRAINT "backfill_shards_run_id_backfill_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."backfill_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "ux_backfill_errors_table_row" ON "backfill_errors" USING btree ("table_name","row_id");--> statement-breakpoint
CREATE INDEX "ix_backfill_shard_events_run" ON "backfill_shard_events" USING btree ("run_id","created_at");--> statement-breakpoint
CREATE INDEX "ix_backfill_shards_run_status" ON "backfill_shards" USING btree ("run_id","status");