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
  // The flag list is static; the module with the server is loaded only when the command runs.
  for (const f of [
    { flags: '--host <host>', description: 'address to listen on', defaultValue: '127.0.0.1' },
    { flags: '--port <port>', description: 'port to listen on', defaultValue: '8090' },
    {
      flags: '--feed-interval <duration>',
      description: 'how often the live feed reads the ledger',
      defaultValue: '1s',
    },
  ])
    cmd.option(f.flags, f.description, f.defaultValue);
  cmd.action(async (raw) => {
    const { dashboardSettings, serveDashboard } = await operator();
    const { env, logger } = createContext();
    await serveDashboard(
      dashboardSettings(raw, { ...env, DASHBOARD_TOKEN: process.env.DASHBOARD_TOKEN }),
      logger,
    );
  });
}
