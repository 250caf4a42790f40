// `backfill dashboard`: an alias of the dashboard app (apps/dashboard), for one-binary installs. Same
// flags, same server (@backfill/operator).
import { DASHBOARD_FLAGS, dashboardSettings } from '@backfill/operator/flags';
import type { Command } from 'commander';
import { createContext } from '../context.js';

// Loaded on use: commands that do not need it start faster and lighter.
const operator = () => import('@backfill/operator');

export function registerDashboard(program: Command): void {
  const cmd = program
    .command('dashboard')
    .description(
      'Serve the operator plane: JSON API under /api, the live page at /, BullMQ jobs (read-only) at /queues, fleet ' +
        'metrics at /metrics; the same as backfill-dashboard. Actions need DASHBOARD_TOKEN.',
    );
  for (const f of DASHBOARD_FLAGS) cmd.option(f.flags, f.description, f.defaultValue);
  cmd.action(async (raw) => {
    const settings = dashboardSettings(raw, {
      ...createContext().env,
      DASHBOARD_TOKEN: process.env.DASHBOARD_TOKEN,
    });
    const { serveDashboard } = await operator();
    await serveDashboard(settings, createContext().logger);
  });
}
