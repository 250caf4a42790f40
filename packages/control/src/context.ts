// What control-plane operations need: the ledger (PostgreSQL), the queues (a transport: Redis, or
// PostgreSQL alone), a logger.
import { connectClient } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';
import { openTransport, type QueueBackendKind, type QueueTransport } from './queue/transport.js';

export interface ControlContext {
  db: pg.Client;
  transport: QueueTransport;
  prefix: string;
  databaseUrl: string;
  logger: Logger;
}

export interface ControlConfig {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  /** Where the queues live (QUEUE_BACKEND; default redis). */
  backend?: QueueBackendKind;
  logger: Logger;
}

export async function openControl(cfg: ControlConfig): Promise<ControlContext> {
  const db = await connectClient(cfg.databaseUrl, { application_name: 'backfill-control' });
  try {
    const transport = await openTransport({
      backend: cfg.backend ?? 'redis',
      redisUrl: cfg.redisUrl,
      databaseUrl: cfg.databaseUrl,
      prefix: cfg.prefix,
    });
    return { db, transport, prefix: cfg.prefix, databaseUrl: cfg.databaseUrl, logger: cfg.logger };
  } catch (err) {
    await db.end();
    throw err;
  }
}

export async function closeControl(ctx: ControlContext): Promise<void> {
  await ctx.transport.close().catch(() => {});
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
