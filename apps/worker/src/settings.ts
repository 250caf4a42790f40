// Worker process settings, parsed once at the edge by the caller; the defaults live there too (the
// `backfill worker` flags), in one place.
export interface WorkerSettings {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  /** Shards processed at once by this process (each uses 1 + writers connections). */
  concurrency: number;
  /** UPDATEs in flight per shard, each on its own connection; batches still commit in order. */
  writers: number;
  /** SIGTERM: how long to wait for in-flight batches before forcing the close. */
  shutdownTimeoutMs: number;
  /** BullMQ lock duration; a SIGKILLed worker's shard returns to the queue after about this long. */
  lockDurationMs: number;
  /** How often stalled (lock-expired) jobs are looked for. */
  stalledIntervalMs: number;
  /** How often the ledger is read for new runs, pauses and setting changes. */
  pollIntervalMs: number;
  /** Name recorded in the ledger for the shards this process works on. */
  workerId: string;
}
