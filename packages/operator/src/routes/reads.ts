// Reads: the run list (from the live feed: no database work per request), one run's status (the read
// model: a fixed number of statements whatever the shard count), its shards a page at a time, one
// shard with its history, the shard map, the workers. Never a state change.
import { type ControlContext, readRunStatus, requireRun } from '@backfill/control';
import { NotFoundError } from '@backfill/engine/errors';
import {
  getShard,
  listShardEvents,
  listShardsPage,
  SHARD_STATUSES,
  type ShardRow,
  shardMap,
} from '@backfill/engine/ledger';
import type { FastifyInstance } from 'fastify';
import type { LiveFeed } from '../live-feed.js';

const nameParam = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 100 } },
  required: ['name'],
} as const;

export function shardView(s: ShardRow) {
  return {
    shardNo: s.shardNo,
    status: s.status,
    fromId: s.fromId.toString(),
    toId: s.toId.toString(),
    checkpointId: s.checkpointId?.toString() ?? null,
    estimatedRows: s.estimatedRows,
    rowsUpdated: s.rowsUpdated,
    rowsSkipped: s.rowsSkipped,
    batches: s.batches,
    attempts: s.attempts,
    epoch: s.epoch,
    batchSize: s.batchSize,
    parentShardNo: s.parentShardNo,
    worker: s.worker,
    lastError: s.lastError,
    lastErrorClass: s.lastErrorClass,
    updatedAt: s.updatedAt.toISOString(),
    startedAt: s.startedAt?.toISOString() ?? null,
    finishedAt: s.finishedAt?.toISOString() ?? null,
  };
}

export function registerReads(app: FastifyInstance, ctx: ControlContext, feed: LiveFeed): void {
  app.get('/api/runs', async () => {
    const s = await feed.current();
    return { at: s.at, runs: s.runs };
  });

  app.get<{ Params: { name: string } }>('/api/runs/:name', { schema: { params: nameParam } }, async (req) =>
    readRunStatus(ctx, req.params.name),
  );

  app.get<{ Params: { name: string }; Querystring: { status?: string; offset?: number; limit?: number } }>(
    '/api/runs/:name/shards',
    {
      schema: {
        params: nameParam,
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...SHARD_STATUSES] },
            offset: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          },
          additionalProperties: false,
        },
      },
    },
    async (req) => {
      const run = await requireRun(ctx, req.params.name);
      const q = req.query;
      const page = await listShardsPage(ctx.db, run.id, {
        ...(q.status && { status: q.status as ShardRow['status'] }),
        offset: q.offset ?? 0,
        limit: q.limit ?? 100,
      });
      return { total: page.total, offset: q.offset ?? 0, shards: page.shards.map(shardView) };
    },
  );

  app.get<{ Params: { name: string; shardNo: number } }>(
    '/api/runs/:name/shards/:shardNo',
    {
      schema: {
        params: {
          type: 'object',
          properties: { name: { type: 'string' }, shardNo: { type: 'integer', minimum: 0 } },
          required: ['name', 'shardNo'],
        },
      },
    },
    async (req) => {
      const run = await requireRun(ctx, req.params.name);
      const shard = await getShard(ctx.db, run.id, req.params.shardNo);
      if (!shard) throw new NotFoundError(`run "${run.name}" has no shard ${req.params.shardNo}`);
      return { ...shardView(shard), events: await listShardEvents(ctx.db, run.id, shard.shardNo) };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/runs/:name/map',
    { schema: { params: nameParam } },
    async (req) => {
      const run = await requireRun(ctx, req.params.name);
      return { shards: await shardMap(ctx.db, run.id) };
    },
  );

  app.get('/api/workers', async () => ({ workers: (await feed.current()).workers }));
}
