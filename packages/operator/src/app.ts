// The dashboard's HTTP server: JSON under /api (reads from the status read model, actions through the
// control-plane functions the CLI calls: one behaviour, two fronts), a live feed over server-sent
// events, the web page, BullMQ's own view (bull-board, read-only) and the fleet's Prometheus metrics.
// buildDashboard returns the instance unstarted, so tests use inject() without a port.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ControlContext } from '@backfill/control';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { Auth, SESSION_COOKIE } from './auth.js';
import { errorHandler } from './errors.js';
import { fleetMetrics } from './fleet-metrics.js';
import { LiveFeed } from './live-feed.js';
import { registerQueueView } from './queue-view.js';
import { registerActions } from './routes/actions.js';
import { registerReads } from './routes/reads.js';
import { registerStream } from './routes/stream.js';

export interface DashboardOptions {
  ctx: ControlContext;
  /** DASHBOARD_TOKEN; null: read-only. */
  token: string | null;
  /** How often the live feed reads the ledger while someone watches (default 1 s). */
  feedIntervalMs?: number;
  /** Mount bull-board at /queues (default true). */
  queueView?: boolean;
  /** Log requests (pino JSON; the token and cookies are redacted). */
  logger?: boolean;
}

/** The built page (npm run build copies web/ and uPlot to dist/web); the sources when run from src. */
function webRoot(): string {
  const dist = fileURLToPath(new URL('../dist/web/', import.meta.url));
  if (existsSync(dist)) return dist;
  return fileURLToPath(new URL('../web/', import.meta.url));
}

export async function buildDashboard(o: DashboardOptions): Promise<FastifyInstance & { feed: LiveFeed }> {
  const app = Fastify({
    bodyLimit: 64 * 1024,
    // The token must never reach a log line.
    logger: o.logger ? { level: 'info', redact: ['req.headers.authorization', 'req.headers.cookie'] } : false,
  });
  const auth = new Auth(o.token);
  const metrics = fleetMetrics();
  const feed = new LiveFeed(o.ctx, o.feedIntervalMs ?? 1000, metrics.update);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { kind: 'not_found', message: `no route ${req.method} ${req.url}` } }),
  );
  await app.register(fastifyCookie);
  // Actions take JSON only: a cross-site HTML form can only send form and text bodies.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch (err) {
      (err as Error & { statusCode?: number }).statusCode = 400;
      done(err as Error, undefined);
    }
  });

  app.get('/api/session', async (req) => {
    const c = auth.caller(req);
    return {
      readOnly: auth.readOnly,
      authenticated: c.kind !== 'anonymous',
      ...(c.kind === 'session' && { csrf: c.csrf }),
    };
  });
  app.post<{ Body: { token?: unknown } }>('/api/login', async (req, reply) => {
    if (auth.readOnly)
      return reply
        .code(403)
        .send({ error: { kind: 'read_only', message: 'no DASHBOARD_TOKEN is set: read-only' } });
    const token = typeof req.body?.token === 'string' ? req.body.token : '';
    const s = auth.login(token);
    if (!s) return reply.code(401).send({ error: { kind: 'unauthorized', message: 'wrong token' } });
    reply.setCookie(SESSION_COOKIE, s.session, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure: req.protocol === 'https',
    });
    return { authenticated: true, csrf: s.csrf };
  });
  app.post('/api/logout', async (req, reply) => {
    auth.logout(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { authenticated: false };
  });

  registerReads(app, o.ctx, feed);
  registerStream(app, feed);
  registerActions(app, o.ctx, auth);
  app.get('/metrics', async (_req, reply) => {
    await feed.current().catch(() => {});
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  if (o.queueView !== false) await registerQueueView(app, o.ctx, feed);
  await app.register(fastifyStatic, { root: webRoot(), prefix: '/', index: ['index.html'] });
  app.addHook('onClose', async () => feed.stop());
  return Object.assign(app, { feed }) as unknown as FastifyInstance & { feed: LiveFeed };
}
