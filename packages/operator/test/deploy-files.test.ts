// The monitoring files under deploy/ parse, and name only metrics the programs expose: every backfill_*
// series in the Grafana dashboard and the scrape ports in the Prometheus config.
import { readFileSync } from 'node:fs';
import { WorkerMetrics } from '@backfill/control/worker';
import { fleetMetrics } from '@backfill/operator';
import { DASHBOARD_DEFAULTS } from '@backfill/operator/flags';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = new URL('../../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

async function exposed(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const registry of [new WorkerMetrics('w:1').registry, fleetMetrics().registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram')
        for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    }
  }
  return names;
}

describe('deploy/ monitoring files', () => {
  it('the Grafana dashboard is JSON and queries only metrics the worker and the dashboard expose', async () => {
    const dash = JSON.parse(read('deploy/grafana-dashboard.json'));
    const exprs: string[] = dash.panels.flatMap((p: { targets: Array<{ expr: string }> }) =>
      p.targets.map((t) => t.expr),
    );
    expect(exprs.length).toBeGreaterThan(5);
    const names = await exposed();
    const used = new Set(exprs.flatMap((e) => e.match(/\b(backfill_[a-z_]+|process_[a-z_]+)\b/g) ?? []));
    expect(used.size).toBeGreaterThan(5);
    for (const n of used) expect(names, n).toContain(n);
  });

  it('the Prometheus config is YAML, scraping the workers and the dashboard on their ports', () => {
    const cfg = parse(read('deploy/prometheus.yml'));
    const jobs = cfg.scrape_configs.map((j: { job_name: string }) => j.job_name);
    expect(jobs).toEqual(['backfill-workers', 'backfill-dashboard']);
    expect(read('deploy/prometheus.yml')).toContain(':9464');
    expect(cfg.scrape_configs[1].static_configs[0].targets[0]).toBe(
      `backfill-dashboard:${DASHBOARD_DEFAULTS.port}`,
    );
  });
});
