// The dashboard deployable: flags and environment parsed once at the edge, then the operator plane
// until SIGTERM. Reads are open; actions need DASHBOARD_TOKEN.
import { type DeployableSpec, runDeployable } from '@backfill/engine/cli';
import { parseEnv, QUEUE_BACKEND_FLAG, withQueueBackendFlag } from '@backfill/engine/config';
import { createLogger } from '@backfill/engine/logger';
import { DASHBOARD_FLAGS, dashboardSettings } from '@backfill/operator/flags';

const DASHBOARD_PROGRAM: DeployableSpec = {
  name: 'backfill-dashboard',
  description:
    'The operator plane: JSON control API under /api, a live web page at /, BullMQ jobs (read-only) at /queues, ' +
    'fleet metrics at /metrics. Binds 127.0.0.1 by default. Actions need DASHBOARD_TOKEN (bearer, or log in on the page).',
  flags: [...DASHBOARD_FLAGS, QUEUE_BACKEND_FLAG],
  helpAfter: `
Environment:
  DATABASE_URL     PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/backfill)
  REDIS_URL        Redis URL (default redis://127.0.0.1:6379)
  QUEUE_PREFIX     BullMQ key prefix (default backfill)
  QUEUE_BACKEND    redis (default) or postgres: queues in PostgreSQL, no Redis at all
  DASHBOARD_TOKEN  allows actions (at least 16 characters); unset: read-only
  LOG_LEVEL        fatal|error|warn|info|debug|trace|silent (default info)

Exit codes: 0 stopped by a signal · 2 bad flag or variable · 3 PostgreSQL/Redis unreachable at start`,
};

await runDeployable(DASHBOARD_PROGRAM, process.argv, async (opts) => {
  const env = withQueueBackendFlag(parseEnv(), opts.queueBackend as string | undefined);
  const settings = dashboardSettings(opts, { ...env, DASHBOARD_TOKEN: process.env.DASHBOARD_TOKEN });
  // Loaded after parsing: `--help` and a bad flag need no HTTP server.
  const { serveDashboard } = await import('@backfill/operator');
  await serveDashboard(settings, createLogger({ level: env.LOG_LEVEL, service: 'backfill-dashboard' }));
});
