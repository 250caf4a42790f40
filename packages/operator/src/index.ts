// The operator plane: buildDashboard (the HTTP control API, the live page, bull-board, fleet metrics).

export { buildDashboard, type DashboardOptions } from './app.js';
export { Auth, CSRF_HEADER, SESSION_COOKIE, sameSecret } from './auth.js';
export { STATUS_OF_KIND } from './errors.js';
export { DASHBOARD_DEFAULTS, DASHBOARD_FLAGS, type DashboardSettings, dashboardSettings } from './flags.js';
export { fleetMetrics } from './fleet-metrics.js';
export { LiveFeed, type Snapshot } from './live-feed.js';
export { serveDashboard } from './serve.js';
