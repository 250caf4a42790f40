// A dashboard process from start to stop: flags and DASHBOARD_TOKEN parsed at the edge (by the caller),
// both services checked (a typo fails fast, exit 3), then listen until SIGTERM/SIGINT.
import { closeControl, openControl } from '@backfill/control';
import type { Logger } from '@backfill/engine/logger';
import { buildDashboard } from './app.js';
import type { DashboardSettings } from './flags.js';

export async function serveDashboard(s: DashboardSettings, logger: Logger): Promise<void> {
  const ctx = await openControl({
    databaseUrl: s.databaseUrl,
    redisUrl: s.redisUrl,
    backend: s.queueBackend,
    prefix: s.prefix,
    logger,
  });
  const app = await buildDashboard({ ctx, token: s.token, feedIntervalMs: s.feedIntervalMs, logger: false });
  const address = await app.listen({ host: s.host, port: s.port });
  logger.info(
    { address, readOnly: s.token === null },
    s.token === null
      ? `dashboard at ${address} (read-only: set DASHBOARD_TOKEN to allow actions)`
      : `dashboard at ${address}`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await app.close();
  await closeControl(ctx);
}
