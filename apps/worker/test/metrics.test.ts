// A worker's Prometheus metrics and health checks on --metrics-port, scraped during a run and parsed
// with a real Prometheus text-format parser: rows and batches by run, batch duration and size, the
// rate cap, a gate's hold (count now, seconds in all), shard outcomes; /healthz and /readyz.
import { createServer } from 'node:net';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { distributedEnv, prepared, removeRedisKeys, startRun } from '../../../test-support/distributed.js';
import {
  FAST_WORKER_FLAGS,
  type Fleet,
  startFleet,
  stopFleet,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';

const PREFIX = `bft-metrics-${process.pid}`;
const fleets: Fleet[] = [];
afterEach(async () => {
  for (const f of fleets.splice(0)) await stopFleet(f);
});
afterAll(() => removeRedisKeys(PREFIX));

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

type Family = {
  name: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string> }>;
};
async function scrape(port: number): Promise<Map<string, Family>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.headers.get('content-type')).toMatch(/text\/plain/);
  return new Map((parsePrometheusTextFormat(await res.text()) as Family[]).map((f) => [f.name, f]));
}
const sampleOf = (m: Map<string, Family>, name: string, labels: Record<string, string>) =>
  Number(
    m.get(name)?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v))?.value ??
      Number.NaN,
  );

describe('worker metrics', { timeout: 120_000 }, () => {
  it('serves run metrics during a run, a gate hold, shard outcomes, and health checks', async () => {
    const url = await prepared('metrics', 40_000);
    const env = distributedEnv(url, PREFIX);
    const hh = (h: number) => String((new Date().getUTCHours() + h) % 24).padStart(2, '0');
    await startRun(env, 'm', [
      '--shard-rows',
      '20000',
      '--max-rows-per-second',
      '8000',
      '--window',
      `${hh(2)}:00-${hh(3)}:00`,
    ]);
    const port = await freePort();
    fleets.push(
      startFleet(1, env, [
        ...FAST_WORKER_FLAGS,
        '--metrics-port',
        String(port),
        '--metrics-host',
        '127.0.0.1',
      ]),
    );
    await waitFor(
      'the metrics port',
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok,
    );
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    // Outside the window: held.
    await waitFor(
      'a window hold',
      async () => sampleOf(await scrape(port), 'backfill_shards_held', { run: 'm', gate: 'window' }) >= 1,
    );
    expect((await runCli(['set', 'm', '--window', 'off'], env)).code).toBe(0);
    await waitFor(
      'rows to be written',
      async () => sampleOf(await scrape(port), 'backfill_rows_updated_total', { run: 'm' }) > 0,
    );
    const during = await scrape(port);
    expect(
      sampleOf(during, 'backfill_gate_held_seconds_total', { run: 'm', gate: 'window' }),
    ).toBeGreaterThan(0);
    expect(sampleOf(during, 'backfill_rate_cap_rows_per_second', { run: 'm' })).toBe(8000);
    expect(sampleOf(during, 'backfill_batch_size', { run: 'm' })).toBeGreaterThan(0);
    const histogram = during.get('backfill_batch_duration_seconds')?.metrics[0];
    expect(Number(histogram?.buckets?.['+Inf'])).toBeGreaterThan(0);
    expect(during.get('backfill_rows_updated_total')?.metrics[0]?.labels?.worker).toMatch(/:\d+$/);
    expect(during.has('process_resident_memory_bytes')).toBe(true);
    await waitForRunStatus(url, 'm', 'completed', 60_000);
    const after = await scrape(port);
    expect(sampleOf(after, 'backfill_rows_updated_total', { run: 'm' })).toBe(40_000);
    expect(
      sampleOf(after, 'backfill_shard_outcomes_total', { run: 'm', outcome: 'completed' }),
    ).toBeGreaterThanOrEqual(2);
    // No shard label anywhere: bounded cardinality.
    for (const f of after.values())
      for (const m of f.metrics) expect(Object.keys(m.labels ?? {})).not.toContain('shard');
  });
});
