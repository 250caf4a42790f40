// What control-plane operations need: the ledger (PostgreSQL), the queues (Redis), a logger.
import { connectClient } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';
import type { RedisClient } from './queue/connection.js';
import { connectRedis } from './queue/connection.js';

export interface ControlContext {
  db: pg.Client;
  redis: RedisClient;
  prefix: string;
  databaseUrl: string;
  logger: Logger;
}

export interface ControlConfig {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  logger: Logger;
}

export async function openControl(cfg: ControlConfig): Promise<ControlContext> {
  const db = await connectClient(cfg.databaseUrl, { application_name: 'backfill-control' });
  try {
    const redis = await connectRedis(cfg.redisUrl);
    return { db, redis, prefix: cfg.prefix, databaseUrl: cfg.databaseUrl, logger: cfg.logger };
  } catch (err) {
    await db.end();
    throw err;
  }
}

export async function closeControl(ctx: ControlContext): Promise<void> {
  ctx.redis.disconnect();
  await ctx.db.end().catch(() => {});
}

export async function withControl<T>(
  cfg: ControlConfig,
  fn: (ctx: ControlContext) => Promise<T>,
): Promise<T> {
  const ctx = await openControl(cfg);
  try {
    return await fn(ctx);
  } finally {
    await closeControl(ctx);
  }
}
