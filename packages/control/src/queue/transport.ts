// Where the queues live: Redis (the default, BullMQ's own), or PostgreSQL alone (BullMQ 6's
// PostgreSQL backend, in a schema of its own, next to the ledger): no Redis at all. Everything that
// distributes work goes through a transport — queues, workers, the shared rows-per-second budgets and
// the per-second rows counters — so the control plane and the workers read the same on both.
import { createRequire } from 'node:module';
import { Queue, Worker, type WorkerOptions, withBackend } from 'bullmq';
import type {
  createPostgresBackend as PostgresBackendFactory,
  runMigrations as RunMigrations,
} from 'bullmq/dist/esm/postgres/index.js';
import pg from 'pg';
import { type RateLimiterAbstract, RateLimiterPostgres, RateLimiterRedis } from 'rate-limiter-flexible';
import { connectRedis, type RedisClient, workerRedis } from './connection.js';
import { rateKey } from './names.js';

export type QueueBackendKind = 'redis' | 'postgres';

/**
 * The PostgreSQL schema of the queues in postgres mode (BullMQ's tables, apart from the ledger's).
 * BullMQ's own default: with a shared pool (one connection budget per process) it checks that schema.
 */
export const PG_QUEUE_SCHEMA = 'bullmq';

export interface TransportConfig {
  backend: QueueBackendKind;
  redisUrl: string;
  databaseUrl: string;
  prefix: string;
}

type AnyProcessor = ConstructorParameters<typeof Worker>[1];

export interface QueueTransport {
  readonly kind: QueueBackendKind;
  readonly prefix: string;
  /** A BullMQ queue on this backend (the caller closes it). */
  queue<T = unknown>(name: string): Queue<T>;
  /** A BullMQ worker on this backend, with a connection of its own where the backend needs one. */
  worker(
    name: string,
    processor: AnyProcessor,
    opts: Omit<WorkerOptions, 'connection' | 'prefix'>,
    label?: string,
  ): { worker: Worker; close(): void };
  /** A rows-per-second budget, one per key, shared by every process of this transport. */
  limiter(key: string, rowsPerSecond: number): RateLimiterAbstract;
  /** Adds rows to this second's counter of `queue` (best effort: it is only a metric). */
  count(queue: string, rows: number): void;
  /** Rows in each of the last `seconds` complete seconds, oldest first. */
  series(queue: string, seconds: number, now?: number): Promise<number[]>;
  /** Forgets counters older than `seconds` (Redis expires them by itself). */
  prune(seconds: number): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------- Redis

class RedisTransport implements QueueTransport {
  readonly kind = 'redis' as const;

  constructor(
    readonly redis: RedisClient,
    readonly prefix: string,
    private readonly url: string,
    private readonly onError: (err: Error) => void,
  ) {}

  queue<T>(name: string): Queue<T> {
    return new Queue<T>(name, { connection: this.redis, prefix: this.prefix });
  }

  worker(
    name: string,
    processor: AnyProcessor,
    opts: Omit<WorkerOptions, 'connection' | 'prefix'>,
    label?: string,
  ) {
    const connection = workerRedis(this.url, this.onError, label);
    const worker = new Worker(name, processor, { ...opts, connection, prefix: this.prefix });
    return { worker, close: () => connection.disconnect() };
  }

  limiter(_key: string, rowsPerSecond: number): RateLimiterAbstract {
    return new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix: `${this.prefix}:budget`,
      points: rowsPerSecond,
      duration: 1,
    });
  }

  count(queue: string, rows: number): void {
    const key = rateKey(this.prefix, queue, Math.floor(Date.now() / 1000));
    void this.redis
      .multi()
      .incrby(key, rows)
      .expire(key, 16 * 60)
      .exec()
      .catch(() => {});
  }

  async series(queue: string, seconds: number, now = Date.now()): Promise<number[]> {
    const sec = Math.floor(now / 1000);
    const keys = Array.from({ length: seconds }, (_, i) => rateKey(this.prefix, queue, sec - seconds + i));
    return (await this.redis.mget(...keys)).map((v) => Number(v ?? 0));
  }

  async prune(): Promise<void> {}

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

// ----------------------------------------------------------------------------------------- PostgreSQL

const require = createRequire(import.meta.url);
/** BullMQ ships its PostgreSQL backend in the CommonJS build only; the classes find it by interface. */
const bullPostgres = () =>
  require('bullmq/dist/cjs/postgres') as {
    createPostgresBackend: typeof PostgresBackendFactory;
    runMigrations: typeof RunMigrations;
  };

class PostgresTransport implements QueueTransport {
  readonly kind = 'postgres' as const;
  private readonly classes: ReturnType<typeof withBackend<never, unknown>>;

  constructor(
    private readonly pool: pg.Pool,
    readonly prefix: string,
  ) {
    this.classes = withBackend(bullPostgres().createPostgresBackend as never) as never;
  }

  queue<T>(name: string): Queue<T> {
    return new this.classes.Queue(name, { connection: this.pool }) as unknown as Queue<T>;
  }

  worker(name: string, processor: AnyProcessor, opts: Omit<WorkerOptions, 'connection' | 'prefix'>) {
    const worker = new this.classes.Worker(name, processor as never, {
      ...opts,
      connection: this.pool,
    }) as unknown as Worker;
    return { worker, close: () => {} };
  }

  limiter(_key: string, rowsPerSecond: number): RateLimiterAbstract {
    return new RateLimiterPostgres({
      storeClient: this.pool,
      storeType: 'pool',
      tableName: 'backfill_rate_budget',
      schemaName: 'public',
      tableCreated: true, // by backfill migrate (0007)
      keyPrefix: `${this.prefix}:budget`,
      points: rowsPerSecond,
      duration: 1,
      clearExpiredByTimeout: false,
    });
  }

  count(queue: string, rows: number): void {
    void this.pool
      .query(
        `INSERT INTO public.backfill_rate_seconds (queue, second, rows) VALUES ($1, $2, $3)
         ON CONFLICT (queue, second) DO UPDATE SET rows = backfill_rate_seconds.rows + EXCLUDED.rows`,
        [queue, Math.floor(Date.now() / 1000), rows],
      )
      .catch(() => {});
  }

  async series(queue: string, seconds: number, now = Date.now()): Promise<number[]> {
    const sec = Math.floor(now / 1000);
    const { rows } = await this.pool.query<{ second: string; rows: string }>(
      'SELECT second, rows FROM public.backfill_rate_seconds WHERE queue = $1 AND second >= $2 AND second < $3',
      [queue, sec - seconds, sec],
    );
    const out = new Array<number>(seconds).fill(0);
    for (const r of rows) out[Number(r.second) - (sec - seconds)] = Number(r.rows);
    return out;
  }

  async prune(seconds: number): Promise<void> {
    await this.pool.query('DELETE FROM public.backfill_rate_seconds WHERE second < $1', [
      Math.floor(Date.now() / 1000) - seconds,
    ]);
    await this.pool.query('DELETE FROM public.backfill_rate_budget WHERE expire < $1', [Date.now() - 60_000]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Opens the transport `cfg.backend` names. Commands (`long: false`) fail fast when Redis is down
 * (UnavailableError); workers (`long: true`) keep reconnecting. PostgreSQL mode creates BullMQ's schema
 * on first use (under BullMQ's own advisory lock).
 */
export async function openTransport(
  cfg: TransportConfig,
  o: { long: boolean; onError?: (err: Error) => void; label?: string } = { long: false },
): Promise<QueueTransport> {
  const onError = o.onError ?? (() => {});
  if (cfg.backend === 'redis') {
    const redis = o.long ? workerRedis(cfg.redisUrl, onError, o.label) : await connectRedis(cfg.redisUrl);
    return new RedisTransport(redis, cfg.prefix, cfg.redisUrl, onError);
  }
  const pool = new pg.Pool({
    connectionString: cfg.databaseUrl,
    max: o.long ? 12 : 3, // a worker holds one LISTEN connection per run it serves
    application_name: o.label ?? 'backfill-queue',
    options: `-c search_path=${PG_QUEUE_SCHEMA}`,
  });
  // Every BullMQ queue and worker on the shared pool adds its own 'error' listener.
  pool.setMaxListeners(0);
  pool.on('error', onError);
  const client = await pool.connect();
  try {
    await bullPostgres().runMigrations(client, PG_QUEUE_SCHEMA);
  } finally {
    client.release();
  }
  return new PostgresTransport(pool, cfg.prefix);
}

/** Whether `queue` lives in PostgreSQL (a PostgreSQL transport's queues share its pg pool). */
export const isPostgresQueue = (queue: Queue): boolean =>
  (queue.opts as { connection?: unknown }).connection instanceof pg.Pool;

/** The Redis client of a Redis transport (what tests and the Redis-only paths need), else null. */
export const redisOf = (t: QueueTransport): RedisClient | null =>
  t instanceof RedisTransport ? t.redis : null;
