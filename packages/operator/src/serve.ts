// A dashboard process from start to stop: flags and DASHBOARD_TOKEN parsed at the edge (by the caller),
// both services checked (a typo fails fast, exit 3), then listen until SIGTERM/SIGINT.
import { closeControl, openControl } from '@backfill/control';
import type { Logger } from '@backfill/engine/logger';
import { buildDashboard } from './app.js';
import type { DashboardSettings } from './flags.js';

/** Resolves at the first SIGTERM/SIGINT; `received` says whether one came yet. */
function firstSignal(): { received: () => boolean; wait: Promise<void> } {
  let received = false;
  const wait = new Promise<void>((resolve) => {
    const stop = () => {
      received = true;
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return { received: () => received, wait };
}

export async function serveDashboard(s: DashboardSettings, logger: Logger): Promise<void> {
  // Before anything else: a signal while it connects is an orderly exit 0, not death by the signal.
  const signal = firstSignal();
  logger.info('dashboard starting');
  const opening = openControl({
    databaseUrl: s.databaseUrl,
    redisUrl: s.redisUrl,
    backend: s.queueBackend,
    prefix: s.prefix,
    logger,
  });
  const ctx = await Promise.race([opening, signal.wait]);
  if (!ctx) {
    logger.info('dashboard stopped during start-up');
    // The connections may still open while the process exits: close them, and ignore their faults.
    opening.then(closeControl).catch(() => {});
    return;
  }
  try {
    const app = await buildDashboard({
      ctx,
      token: s.token,
      feedIntervalMs: s.feedIntervalMs,
      logger: false,
    });
    try {
      if (signal.received()) return;
      const address = await app.listen({ host: s.host, port: s.port });
      logger.info(
        { address, readOnly: s.token === null },
        s.token === null
          ? `dashboard at ${address} (read-only: set DASHBOARD_TOKEN to allow actions)`
          : `dashboard at ${address}`,
      );
      await signal.wait;
    } finally {
      await app.close();
    }
  } finally {
    await closeControl(ctx);
  }
}
