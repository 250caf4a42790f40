// The drizzle schema: run_logs as the application writes it, and the backfill ledger.
// Migrations in ../drizzle are generated from this file by `drizzle-kit generate` and committed.
// Migrations after 0000 must be idempotent (IF [NOT] EXISTS): `backfill migrate --down` rewinds the
// journal to before the event_id step, so later files run again on the next `migrate`.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const runLogs = pgTable(
  'run_logs',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    runId: uuid('run_id').notNull(),
    timestamp: timestamp('timestamp', { withTimezone: true }).notNull().defaultNow(),
    level: text('level').notNull().default('info'),
    eventType: text('event_type').notNull(),
    message: text('message'),
    data: jsonb('data'),
    eventId: varchar('event_id'),
  },
  // Built CONCURRENTLY by `backfill migrate` (or `backfill index`), outside drizzle's transaction.
  (t) => [index('ix_run_logs_event_id').on(t.eventId)],
);

/** One backfill run: a named pass over an id range of a table, split into shards. */
export const backfillRuns = pgTable('backfill_runs', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  name: text('name').notNull().unique(),
  /** The BullMQ queue of this run: unique across databases sharing one Redis (see queue.ts). */
  queue: text('queue'),
  tableSchema: text('table_schema').notNull().default('public'),
  tableName: text('table_name').notNull(),
  eventIdVersion: integer('event_id_version').notNull(),
  status: text('status').notNull(),
  fromId: bigint('from_id', { mode: 'bigint' }).notNull(),
  toId: bigint('to_id', { mode: 'bigint' }).notNull(),
  order: text('order').notNull().default('asc'),
  shardRows: integer('shard_rows').notNull(),
  planner: text('planner').notNull(),
  estimatedRows: bigint('estimated_rows', { mode: 'number' }).notNull().default(0),
  settings: jsonb('settings').notNull().default(sql`'{}'::jsonb`),
  lastError: text('last_error'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  startedAt: timestamp('started_at', { withTimezone: true }),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  /** When the finished run's BullMQ queue was removed from Redis (the ledger keeps its history). */
  queueClearedAt: timestamp('queue_cleared_at', { withTimezone: true }),
});

/** A primary-key range of a run. `checkpointId` is the last id done: work resumes after it. */
export const backfillShards = pgTable(
  'backfill_shards',
  {
    runId: bigint('run_id', { mode: 'number' })
      .notNull()
      .references(() => backfillRuns.id, { onDelete: 'cascade' }),
    shardNo: integer('shard_no').notNull(),
    fromId: bigint('from_id', { mode: 'bigint' }).notNull(),
    toId: bigint('to_id', { mode: 'bigint' }).notNull(),
    checkpointId: bigint('checkpoint_id', { mode: 'bigint' }),
    status: text('status').notNull().default('pending'),
    estimatedRows: bigint('estimated_rows', { mode: 'number' }).notNull().default(0),
    rowsUpdated: bigint('rows_updated', { mode: 'number' }).notNull().default(0),
    rowsSkipped: bigint('rows_skipped', { mode: 'number' }).notNull().default(0),
    batches: integer('batches').notNull().default(0),
    attempts: integer('attempts').notNull().default(0),
    /**
     * The claim's fencing token: every claim increments it, and every progress or end write of a worker
     * carries the value it claimed with, so a worker that lost its shard (stalled past its lock while
     * another took over) can no longer write to it.
     */
    epoch: integer('epoch').notNull().default(0),
    /** The batch size its worker uses now (adaptive sizing moves it), for status. */
    batchSize: integer('batch_size'),
    parentShardNo: integer('parent_shard_no'),
    worker: text('worker'),
    lastError: text('last_error'),
    lastErrorClass: text('last_error_class'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.shardNo] }),
    index('ix_backfill_shards_run_status').on(t.runId, t.status),
  ],
);

/** Every shard state change, with the error class and message: the audit trail for failures. */
export const backfillShardEvents = pgTable(
  'backfill_shard_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    runId: bigint('run_id', { mode: 'number' })
      .notNull()
      .references(() => backfillRuns.id, { onDelete: 'cascade' }),
    shardNo: integer('shard_no').notNull(),
    fromStatus: text('from_status'),
    toStatus: text('to_status').notNull(),
    worker: text('worker'),
    errorClass: text('error_class'),
    message: text('message'),
    createdAt: createdAt(),
  },
  (t) => [index('ix_backfill_shard_events_run').on(t.runId, t.createdAt)],
);

/**
 * Everything that happened to a run, beyond its shards' transitions: a settings change (with the old and
 * the new value), pause and resume, a gate holding. For people: status and the dashboard show the last few.
 */
export const backfillRunEvents = pgTable(
  'backfill_run_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    runId: bigint('run_id', { mode: 'number' })
      .notNull()
      .references(() => backfillRuns.id, { onDelete: 'cascade' }),
    kind: text('kind').notNull(),
    message: text('message').notNull(),
    details: jsonb('details'),
    createdAt: createdAt(),
  },
  (t) => [index('ix_backfill_run_events_run').on(t.runId, t.id)],
);

/**
 * The worker processes, as each last reported itself (every poll interval): what it is doing (its
 * shards, their batch sizes, the gate holding them). A worker whose heartbeat is old is gone.
 */
export const backfillWorkers = pgTable('backfill_workers', {
  workerId: text('worker_id').primaryKey(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull(),
  info: jsonb('info').notNull(),
});

/**
 * Queues in PostgreSQL (QUEUE_BACKEND=postgres, no Redis): the rows written per second of each run's
 * queue (what Redis counters hold otherwise; kept 16 minutes), and the shared rows-per-second budgets
 * (rate-limiter-flexible's table layout).
 */
export const backfillRateSeconds = pgTable(
  'backfill_rate_seconds',
  {
    queue: text('queue').notNull(),
    second: bigint('second', { mode: 'number' }).notNull(),
    rows: bigint('rows', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.queue, t.second] })],
);

export const backfillRateBudget = pgTable('backfill_rate_budget', {
  key: varchar('key', { length: 255 }).primaryKey(),
  points: integer('points').notNull().default(0),
  expire: bigint('expire', { mode: 'number' }),
});

/** Rows whose event id could not be computed, recorded by `--on-bad-row=skip`. */
export const backfillErrors = pgTable(
  'backfill_errors',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tableName: text('table_name').notNull(),
    rowId: bigint('row_id', { mode: 'bigint' }).notNull(),
    reason: text('reason').notNull(),
    runName: text('run_name'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('ux_backfill_errors_table_row').on(t.tableName, t.rowId)],
);
