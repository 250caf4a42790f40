// Actions: each one a control-plane function, the same the CLI calls, behind the auth guard. POST
// only (no state change on GET), JSON bodies only. Errors map from the control plane's kinds (400 with
// the field named, 404, 409); nothing changes on any of them. Finalize can take long (it works what is
// left inline), so it answers 202 at once and records how it ended as a run event.
import {
  type ControlContext,
  cancelRun,
  finalizeRun,
  pauseAllRuns,
  pauseRun,
  requireRun,
  resumeRun,
  retryShards,
  setRunSettings,
} from '@backfill/control';
import { UsageError } from '@backfill/engine/errors';
import { recordRunEvent } from '@backfill/engine/ledger';
import { RunSettingsSchema } from '@backfill/shared/settings';
import type { FastifyInstance } from 'fastify';
import type { Auth } from '../auth.js';

const SETTING_KEYS = Object.keys(RunSettingsSchema.shape);

export function registerActions(app: FastifyInstance, ctx: ControlContext, auth: Auth): void {
  const guard = { preHandler: auth.requireActor };
  type Named = { Params: { name: string } };

  app.post<Named>('/api/runs/:name/pause', guard, async (req) => {
    const run = await pauseRun(ctx, req.params.name);
    return { name: run.name, status: run.status };
  });
  app.post<Named>('/api/runs/:name/resume', guard, async (req) => {
    const run = await resumeRun(ctx, req.params.name);
    return { name: run.name, status: run.status };
  });
  app.post<Named>('/api/runs/:name/cancel', guard, async (req) => {
    const r = await cancelRun(ctx, req.params.name);
    return { name: r.run.name, status: r.run.status, cancelledShards: r.cancelledShards };
  });
  app.post('/api/pause-all', guard, async () => ({ paused: (await pauseAllRuns(ctx)).map((r) => r.name) }));

  app.post<Named & { Body: { failed?: unknown; shardNo?: unknown } }>(
    '/api/runs/:name/retry',
    guard,
    async (req) => {
      const b = req.body ?? {};
      const failed = b.failed === true;
      const shard = b.shardNo;
      if (failed === (shard !== undefined))
        throw new UsageError('shardNo: give exactly one of {"failed": true} or {"shardNo": N}');
      if (shard !== undefined && (!Number.isInteger(shard) || (shard as number) < 0))
        throw new UsageError('shardNo: must be a whole number ≥ 0');
      const retried = await retryShards(
        ctx,
        req.params.name,
        failed ? { failed: true } : { shardNo: shard as number },
      );
      return { name: req.params.name, retried };
    },
  );

  app.post<Named & { Body: Record<string, unknown> }>('/api/runs/:name/settings', guard, async (req) => {
    const patch = req.body ?? {};
    const unknown = Object.keys(patch).filter((k) => !SETTING_KEYS.includes(k));
    if (unknown.length)
      throw new UsageError(`${unknown[0]}: not a run setting (settings: ${SETTING_KEYS.join(', ')})`);
    if (Object.keys(patch).length === 0)
      throw new UsageError('settings: give at least one setting to change');
    const r = await setRunSettings(ctx, req.params.name, patch, 'dashboard');
    return { name: r.run.name, settings: r.run.settings, changes: r.changes };
  });

  app.post<Named>('/api/runs/:name/finalize', guard, async (req, reply) => {
    const run = await requireRun(ctx, req.params.name);
    // Refuse at once what finalize would refuse (a paused or finished run): 409 now, not later.
    if (!['running', 'completed', 'failed'].includes(run.status))
      return reply.code(409).send({
        error: { kind: 'conflict', message: `run "${run.name}" is ${run.status}: it cannot be finalized` },
      });
    void finalizeRun(ctx, run.name, { sample: 10_000 })
      .then((r) =>
        recordRunEvent(
          ctx.db,
          run.id,
          'finalize',
          `finalized: ${r.shardsFinishedInline} shards inline, index ${r.index}`,
        ),
      )
      .catch((err) =>
        recordRunEvent(ctx.db, run.id, 'finalize', `finalize failed: ${(err as Error).message}`).catch(
          () => {},
        ),
      );
    return reply.code(202).send({ name: run.name, finalizing: true });
  });
}
