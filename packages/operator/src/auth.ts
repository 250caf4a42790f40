// Who may act. Reads are open (the dashboard binds 127.0.0.1 unless told otherwise); every action needs
// DASHBOARD_TOKEN: as `Authorization: Bearer <token>` (scripts), or a session cookie set by logging in
// with it (the page). Cookie-authenticated actions must also carry the session's CSRF token in a
// header and come from this origin: a form on another site can send neither. The token is compared in
// constant time and never logged. With no token configured the dashboard is read-only and says so.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const SESSION_COOKIE = 'bf_session';
export const CSRF_HEADER = 'x-csrf-token';
const SESSION_TTL_MS = 12 * 3600 * 1000;

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time equality whatever the lengths (both sides hashed to 32 bytes first). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export type Caller = { kind: 'anonymous' } | { kind: 'bearer' } | { kind: 'session'; csrf: string };

export class Auth {
  private readonly sessions = new Map<string, { csrf: string; expires: number }>();

  constructor(private readonly token: string | null) {}

  get readOnly(): boolean {
    return this.token === null;
  }

  /** A session for a correct token: its id (the cookie) and CSRF token; null for a wrong one. */
  login(candidate: string): { session: string; csrf: string } | null {
    if (this.token === null || !sameSecret(candidate, this.token)) return null;
    const session = randomBytes(24).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    this.sessions.set(session, { csrf, expires: Date.now() + SESSION_TTL_MS });
    return { session, csrf };
  }

  logout(session: string | undefined): void {
    if (session) this.sessions.delete(session);
  }

  caller(req: FastifyRequest): Caller {
    const header = req.headers.authorization;
    if (this.token !== null && header?.startsWith('Bearer ') && sameSecret(header.slice(7), this.token))
      return { kind: 'bearer' };
    const id = req.cookies?.[SESSION_COOKIE];
    const s = id ? this.sessions.get(id) : undefined;
    if (s && s.expires > Date.now()) return { kind: 'session', csrf: s.csrf };
    return { kind: 'anonymous' };
  }

  /**
   * Guards an action (a preHandler): 403 read-only without a configured token, 401 without valid
   * credentials, 403 for a cookie session without its CSRF token or from another origin.
   */
  requireActor = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (this.readOnly) {
      return deny(
        reply,
        403,
        'read_only',
        'the dashboard is read-only: start it with DASHBOARD_TOKEN set to allow actions',
      );
    }
    const c = this.caller(req);
    if (c.kind === 'anonymous')
      return deny(reply, 401, 'unauthorized', 'log in, or send Authorization: Bearer <DASHBOARD_TOKEN>');
    if (c.kind === 'session') {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameSecret(sent, c.csrf))
        return deny(reply, 403, 'csrf', `a cookie session's action needs its ${CSRF_HEADER} header`);
      if (!sameOrigin(req)) return deny(reply, 403, 'csrf', 'cross-site request refused');
    }
  };
}

/** Origin (or Referer) must name this host when a browser sends one. */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin ?? req.headers.referer;
  if (!origin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function deny(reply: FastifyReply, status: number, kind: string, message: string) {
  return reply.code(status).send({ error: { kind, message } });
}
