import type { ControlContext, RunStatusReport } from '@backfill/control';
import { durationIn, parseOptions } from '@backfill/engine/cli';
import { UsageError } from '@backfill/engine/errors';
import { isActiveRun } from '@backfill/engine/ledger';
import { LIMITS } from '@backfill/shared/settings';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { z } from 'zod';
import { createContext } from '../context.js';
import { fmtInt, printResult } from '../output.js';

// Loaded on use: commands that do not need it start faster and lighter.
const control = () => import('@backfill/control');

const StatusOptions = z.object({
  watch: z.boolean().default(false),
  interval: durationIn(LIMITS.statusIntervalMs),
  json: z.boolean().default(false),
});

const fmtEta = (s: number | null) =>
  s === null
    ? 'unknown'
    : s >= 3600
      ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
      : s >= 60
        ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
        : `${s}s`;

export function describeStatus(r: RunStatusReport): string[] {
  const p = r.progress;
  const s = p.shards;
  const lines = [
    `run ${r.run.name} [${r.run.status}${r.queuePaused && r.run.status !== 'paused' ? ', queue paused' : ''}] ` +
      `${r.run.tableSchema}.${r.run.tableName} ids ${r.run.fromId}..${r.run.toId} (event-id v${r.run.eventIdVersion})`,
    `  rows: ${fmtInt(p.rowsUpdated)} of ~${fmtInt(Math.max(p.estimatedRows, p.rowsUpdated))} (${r.percent.toFixed(1)}%)` +
      (p.rowsSkipped ? `, ${fmtInt(p.rowsSkipped)} bad rows skipped` : ''),
    `  rate: ${fmtInt(r.rowsPerSecondLastMinute)} rows/s last minute, ${fmtInt(r.rowsPerSecondLast15Minutes)} last 15 min, ` +
      `${fmtInt(r.rowsPerSecondOverall)} overall · ETA ${fmtEta(r.etaSeconds)}${r.holds.length ? ' once writing again' : ''}`,
    `  shards: ${s.completed} completed, ${s.running} running, ${s.queued} queued, ${s.failed} failed` +
      (s.split ? `, ${s.split} split` : '') +
      (s.cancelled ? `, ${s.cancelled} cancelled` : '') +
      (r.run.settings.parallelism > 0 ? ` · at most ${r.run.settings.parallelism} at once` : ''),
  ];
  for (const h of r.holds.slice(0, 10)) {
    const held = fmtEta(Math.round((Date.now() - Date.parse(h.since)) / 1000));
    lines.push(
      `  ⏸ held by ${h.gate} for ${held} (shard ${h.shardNo} on ${h.workerId}): ${h.value}, threshold ${h.threshold} — ${h.reason}`,
    );
  }
  for (const a of p.active.slice(0, 10)) {
    lines.push(
      `  ▸ shard ${a.shardNo} on ${a.worker ?? '?'}: ids ${a.fromId}..${a.toId}, at ${a.checkpointId ?? 'start'}, ${fmtInt(a.rowsUpdated)} rows` +
        (a.batchSize ? `, batch ${fmtInt(a.batchSize)}` : ''),
    );
  }
  const alive = p.workers.filter((w) => w.alive);
  if (alive.length)
    lines.push(
      `  workers: ${alive.map((w) => `${w.workerId} (${w.shards.length} shard${w.shards.length === 1 ? '' : 's'}${w.databaseReachable ? '' : ', database unreachable'})`).join(', ')}`,
    );
  for (const f of p.failed.slice(0, 10)) {
    lines.push(
      `  ✗ shard ${f.shardNo} failed after ${f.attempts} attempts: ${f.lastErrorClass ?? ''} ${f.lastError ?? ''}`.trimEnd(),
    );
  }
  for (const e of p.lastErrors.slice(0, 5)) {
    lines.push(`  ! ${e.at} shard ${e.shardNo} → ${e.toStatus}: ${e.errorClass}: ${e.message}`);
  }
  for (const e of p.events.filter((e) => e.kind === 'settings').slice(0, 3)) {
    lines.push(`  ⚙ ${e.at} ${e.message}`);
  }
  if (s.failed) lines.push(`  retry: backfill retry ${r.run.name} --failed`);
  return lines;
}

async function watch(ctx: ControlContext, name: string, intervalMs: number, json: boolean): Promise<void> {
  const tty = process.stderr.isTTY && !json;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: `${name} |{bar}| {percentage}% · {value}/{total} rows · {rate} rows/s · ETA {etaText} · {shards}`,
          stream: process.stderr,
          fps: 4,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  for (;;) {
    const r = await (await control()).readRunStatus(ctx, name);
    const run = r.run;
    const total = Math.max(r.progress.estimatedRows, r.progress.rowsUpdated, 1);
    const payload = {
      rate: fmtInt(r.rowsPerSecondLastMinute),
      etaText: fmtEta(r.etaSeconds),
      shards: `${r.progress.shards.completed}/${Object.values(r.progress.shards).reduce((a, b) => a + b, 0) - r.progress.shards.split} shards`,
    };
    if (bar) {
      if (!started) bar.start(total, r.progress.rowsUpdated, payload);
      else {
        bar.setTotal(total);
        bar.update(r.progress.rowsUpdated, payload);
      }
      started = true;
    } else {
      printResult(json, r, () => describeStatus(r));
    }
    if (!isActiveRun(run.status)) {
      bar?.stop();
      if (bar) process.stdout.write(`${describeStatus(r).join('\n')}\n`);
      return;
    }
    await new Promise((res) => setTimeout(res, intervalMs));
  }
}

export function registerStatus(program: Command): void {
  program
    .command('status [name]')
    .description(
      'Progress of a run (or of every run): rows done / estimated, rows/s over the last minute and overall, ETA, ' +
        'shards by state, active workers with their shard, failed shards and the last errors.',
    )
    .option('--watch', 'keep refreshing until the run ends (a live progress bar on a TTY)')
    .option('--interval <duration>', 'refresh interval for --watch', '2s')
    .option('--json', 'JSON output (one object per refresh with --watch)')
    .action(async (name: string | undefined, raw) => {
      const o = parseOptions(StatusOptions, raw);
      const { env, logger } = createContext();
      await (await control()).withControl(
        {
          databaseUrl: env.DATABASE_URL,
          redisUrl: env.REDIS_URL,
          prefix: env.QUEUE_PREFIX,
          backend: env.QUEUE_BACKEND,
          logger,
        },
        async (ctx) => {
          if (o.watch) {
            if (!name) throw new UsageError('--watch needs a run name');
            return watch(ctx, name, o.interval, o.json);
          }
          if (name) {
            const r = await (await control()).readRunStatus(ctx, name);
            printResult(o.json, r, () => describeStatus(r));
            return;
          }
          const all = await (await control()).readAllRunStatuses(ctx);
          printResult(o.json, all, () =>
            all.length ? all.flatMap(describeStatus) : ['no runs yet (backfill start --name NAME --commit)'],
          );
        },
      );
    });
}
