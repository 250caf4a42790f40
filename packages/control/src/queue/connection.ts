// Redis connections. Commands fail fast when Redis is down (a clear error, exit 3); workers keep
// retrying forever (BullMQ requires maxRetriesPerRequest: null for them).
import { UnavailableError } from '@backfill/engine/errors';
import { Redis } from 'ioredis';

export function unreachableRedis(url: string, err: unknown): UnavailableError {
  const u = new URL(url);
  return new UnavailableError(
    `cannot reach Redis at ${u.hostname}:${u.port || 6379} (${(err as Error)?.message ?? err}). ` +
      'Start it (`docker compose up -d redis`) or point REDIS_URL at a running server.',
    { cause: err },
  );
}

/** For commands: connects (or fails within a few seconds with a clear error). */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
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
export function workerRedis(url: string, onError: (err: Error) => void, name?: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    ...(name && { connectionName: name.replace(/[^\x21-\x7e]/g, '_') }),
  });
  redis.on('error', onError);
  return redis;
}
