// Redis connections. Commands fail fast when Redis is down (a clear error, exit 3); workers keep
// retrying forever (BullMQ requires maxRetriesPerRequest: null for them). A `redis+cluster://` URL
// names one node of a Redis Cluster (the others are discovered); every key of a queue then needs one
// slot, which the {hash tag} in QUEUE_PREFIX gives (parseEnv insists on it).
import { UnavailableError } from '@backfill/engine/errors';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** A Redis server or a Redis Cluster: the commands the backfill uses work on both. */
export type RedisClient = Redis | Cluster;

export const isClusterUrl = (url: string) => new URL(url).protocol === 'redis+cluster:';

export function unreachableRedis(url: string, err: unknown): UnavailableError {
  const u = new URL(url);
  return new UnavailableError(
    `cannot reach Redis at ${u.hostname}:${u.port || 6379} (${(err as Error)?.message ?? err}). ` +
      'Start it (`docker compose up -d redis`) or point REDIS_URL at a running server.',
    { cause: err },
  );
}

/** A client for `url` (a server, or a cluster seed), not connected yet when `lazyConnect`. */
function client(url: string, o: RedisOptions): RedisClient {
  if (!isClusterUrl(url)) return new Redis(url, o);
  const u = new URL(url);
  const { retryStrategy, ...nodeOptions } = o;
  const cluster: ClusterOptions = {
    redisOptions: {
      ...nodeOptions,
      ...(u.username && { username: decodeURIComponent(u.username) }),
      ...(u.password && { password: decodeURIComponent(u.password) }),
    },
    ...(o.lazyConnect !== undefined && { lazyConnect: o.lazyConnect }),
    ...(retryStrategy && { clusterRetryStrategy: retryStrategy }),
    enableOfflineQueue: o.enableOfflineQueue ?? true,
    // BullMQ's blocking commands and scripts: keep the cluster from giving up on a slot moving.
    maxRedirections: 16,
  };
  return new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], cluster);
}

/** For commands: connects (or fails within a few seconds with a clear error). */
export async function connectRedis(url: string): Promise<RedisClient> {
  const redis = client(url, {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    lazyConnect: true,
    connectTimeout: 3000,
    retryStrategy: (times) => (times > 3 ? null : 200 * times),
  });
  redis.on('error', () => {}); // surfaced by connect()/commands below
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw unreachableRedis(url, err);
  }
  return redis;
}

/**
 * For long-lived workers: reconnects forever with capped backoff. `name` shows in Redis' CLIENT LIST
 * (which worker, which run), so an operator can tell whose connections those are.
 */
export function workerRedis(url: string, onError: (err: Error) => void, name?: string): RedisClient {
  const redis = client(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    ...(name && { connectionName: name.replace(/[^\x21-\x7e]/g, '_') }),
  });
  redis.on('error', onError);
  return redis;
}
