-- Idempotent, like every migration after 0002_event_id. A shard's batch in one round trip: the batch's
-- UPDATE, then its checkpoint (with the epoch fence), all or nothing. Both statements are passed in as
-- text by the engine (apply-batch.ts), so their SQL is written once; this function only saves the
-- three round trips of BEGIN / UPDATE / checkpoint / COMMIT, during which the transaction sat idle
-- whenever the worker's event loop was busy computing another shard's batch (measured: a third of a
-- backend idle in transaction with two shards at once). SECURITY INVOKER: it runs with the caller's
-- rights and search_path. Errors:
--   BFS01  not every row was written (rows changed since the read): nothing is kept, and the engine
--          redoes the batch in a transaction that re-reads those rows under lock;
--   BFT01  the checkpoint matched no row: another worker claimed the shard (fenced), nothing is kept.
CREATE OR REPLACE FUNCTION "backfill_apply_batch"(
	"update_sql" text, "ids" bigint[], "event_ids" text[], "lo" bigint, "hi" bigint, "xmins" xid[],
	"checkpoint_sql" text, "last_id" bigint, "run_id" integer, "shard_no" integer, "skipped" integer,
	"epoch" integer, "batch_size" integer
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	written integer;
	shard_to text;
BEGIN
	EXECUTE update_sql USING ids, event_ids, lo, hi, xmins;
	GET DIAGNOSTICS written = ROW_COUNT;
	IF written < coalesce(array_length(ids, 1), 0) THEN
		RAISE EXCEPTION 'backfill: % of % rows changed since the batch was read', coalesce(array_length(ids, 1), 0) - written, coalesce(array_length(ids, 1), 0)
			USING ERRCODE = 'BFS01';
	END IF;
	EXECUTE checkpoint_sql INTO shard_to USING last_id, run_id, shard_no, written, skipped, 1, epoch, batch_size;
	GET DIAGNOSTICS written = ROW_COUNT;
	IF written = 0 THEN
		RAISE EXCEPTION 'backfill: shard % of run % was claimed by another worker', shard_no, run_id
			USING ERRCODE = 'BFT01';
	END IF;
	RETURN shard_to;
END
$$;
