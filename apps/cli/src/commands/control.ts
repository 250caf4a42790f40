// pause / resume / retry / cancel / recover / finalize: thin wrappers over the producer's controls.

import type { ControlContext } from '@backfill/control';
import { int, intIn, parseOptions } from '@backfill/engine/cli';
import { UsageError } from '@backfill/engine/errors';
import { LIMITS } from '@backfill/shared/settings';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { fmtInt, printResult } from '../output.js';

// Loaded on use: commands that do not need it start faster and lighter.
const control = () => import('@backfill/control');

async function withCtx<T>(fn: (ctx: ControlContext) => Promise<T>): Promise<T> {
  const { env, logger } = createContext();
  return (await control()).withControl(
    {
      databaseUrl: env.DATABASE_URL,
      redisUrl: env.REDIS_URL,
      prefix: env.QUEUE_PREFIX,
      backend: env.QUEUE_BACKEND,
      logger,
    },
    fn,
  );
}

const Json = z.object({ json: z.boolean().default(false) });

/** "1, 2, 3" or "1, 2, 3, … (+7)". */
const list = (nos: number[]) =>
  nos.length > 10 ? `${nos.slice(0, 10).join(', ')}, … (+${nos.length - 10})` : nos.join(', ');

export function registerControl(program: Command): void {
  program
    .command('pause [name]')
    .description(
      'Pause a run: workers stop at their next batch boundary and hand shards back; checkpoints are kept. ' +
        '--all pauses every running run (the panic switch).',
    )
    .option('--all', 'pause every running run')
    .option('--json', 'JSON output')
    .action(async (name: string | undefined, raw) => {
      const o = parseOptions(Json.extend({ all: z.boolean().default(false) }), raw);
      if (o.all === (name !== undefined)) throw new UsageError('pause: give a run name, or --all');
      if (o.all) {
        const runs = await withCtx(async (ctx) => (await control()).pauseAllRuns(ctx));
        printResult(o.json, { paused: runs.map((r) => r.name) }, () => [
          runs.length
            ? `paused ${runs.length} run${runs.length > 1 ? 's' : ''}: ${runs.map((r) => r.name).join(', ')} (resume each: backfill resume NAME)`
            : 'no running run to pause',
        ]);
        return;
      }
      const run = await withCtx(async (ctx) => (await control()).pauseRun(ctx, name!));
      printResult(o.json, { name: run.name, status: run.status }, () => [
        `run ${run.name} paused (resume: backfill resume ${run.name})`,
      ]);
    });

  program
    .command('resume <name>')
    .description('Resume a paused run: shards continue from their checkpoints.')
    .option('--json', 'JSON output')
    .action(async (name: string, raw) => {
      const o = parseOptions(Json, raw);
      const run = await withCtx(async (ctx) => (await control()).resumeRun(ctx, name));
      printResult(o.json, { name: run.name, status: run.status }, () => [`run ${run.name} resumed`]);
    });

  program
    .command('retry <name>')
    .description(
      'Put failed shards (--failed) or one shard (--shard N) back in the queue, from their checkpoints.',
    )
    .option('--failed', 'every failed shard')
    .option('--shard <n>', 'one shard by number')
    .option('--json', 'JSON output')
    .action(async (name: string, raw) => {
      const o = parseOptions(
        Json.extend({ failed: z.boolean().default(false), shard: int(0).optional() }),
        raw,
      );
      if (o.failed === (o.shard !== undefined))
        throw new UsageError('retry: give exactly one of --failed or --shard N');
      const retried = await withCtx(async (ctx) =>
        (await control()).retryShards(
          ctx,
          name,
          o.failed ? { failed: true } : { shardNo: o.shard as number },
        ),
      );
      printResult(o.json, { name, retried }, () => [
        retried.length
          ? `requeued shards ${retried.join(', ')} of run ${name}`
          : `run ${name}: no shard to retry`,
      ]);
    });

  program
    .command('cancel <name>')
    .description(
      'Cancel a run: unfinished shards are cancelled and its queue removed. Rows already done stay done.',
    )
    .option('--json', 'JSON output')
    .action(async (name: string, raw) => {
      const o = parseOptions(Json, raw);
      const r = await withCtx(async (ctx) => (await control()).cancelRun(ctx, name));
      printResult(o.json, { name, cancelledShards: r.cancelledShards }, () => [
        `run ${name} cancelled (${r.cancelledShards} unfinished shards)`,
      ]);
    });

  program
    .command('recover <name>')
    .description(
      "Bring the run's queue in line with the ledger: the answer to a lost or flushed Redis, or a run that looks " +
        'stuck. Adds missing jobs, retries failed or completed jobs of shards with work left, puts running shards ' +
        'nobody holds back in the queue, and settles the run when nothing is left. Reports what it changed. Safe at ' +
        'any time (workers also do it every --stalled-interval).',
    )
    .option('--json', 'JSON output')
    .action(async (name: string, raw) => {
      const o = parseOptions(Json, raw);
      const r = await withCtx(async (ctx) => (await control()).recoverRun(ctx, name));
      const { added, retried, requeued, settled, queuePauseFixed } = r.report;
      printResult(o.json, { name, status: r.run.status, ...r.report }, () => {
        const changes = [
          added.length && `${fmtInt(added.length)} missing jobs added (shards ${list(added)})`,
          retried.length &&
            `${fmtInt(retried.length)} failed or completed jobs retried (shards ${list(retried)})`,
          requeued.length &&
            `${fmtInt(requeued.length)} running shards nobody held put back in the queue (shards ${list(requeued)})`,
          queuePauseFixed && `queue ${r.run.status === 'paused' ? 'paused' : 'resumed'} to match the run`,
          settled && `nothing was left to do: the run is now ${settled}`,
        ].filter(Boolean);
        return changes.length
          ? [`run ${name}: ${changes.join('; ')}`]
          : [`run ${name}: queue and ledger agree, nothing changed (${r.run.status})`];
      });
    });

  program
    .command('finalize <name>')
    .description(
      'Finish the run: process whatever is left inline (from checkpoints), then verify the run range is complete ' +
        '(no NULL event_id, sampled ids match) and mark the run finalized. Exit 1 if it is not complete.',
    )
    .option('--sample <n>', 'rows to re-check at random', '10000')
    .option('--json', 'JSON output')
    .action(async (name: string, raw) => {
      const o = parseOptions(Json.extend({ sample: intIn(LIMITS.verifySample) }), raw);
      const r = await withCtx(async (ctx) => (await control()).finalizeRun(ctx, name, { sample: o.sample }));
      printResult(o.json, { name, ...r }, () => [
        `run ${name} finalized: ${r.shardsFinishedInline} shards finished inline (${fmtInt(r.rowsUpdatedInline)} rows); ` +
          `verify: ${fmtInt(r.verify.rowsChecked)} sampled rows match, 0 NULL event_id in ids ${r.verify.fromId}..${r.verify.toId}; ` +
          `index ix_run_logs_event_id: ${r.index}`,
      ]);
    });
}
