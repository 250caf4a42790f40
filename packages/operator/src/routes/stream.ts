// The live feed over server-sent events: every client gets the shared poller's snapshot (see
// live-feed.ts), so the database work per tick stays the same however many pages are open. A comment
// line every 15 s keeps proxies from closing a quiet stream.
import type { FastifyInstance } from 'fastify';
import type { LiveFeed } from '../live-feed.js';

const HEARTBEAT_MS = 15_000;
/** A client this far behind (bytes not yet taken by its socket) is dropped: it reconnects and catches up. */
const MAX_BUFFERED = 4 * 1024 * 1024;

export function registerStream(app: FastifyInstance, feed: LiveFeed): void {
  app.get('/api/stream', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    let seq = 0;
    const unsubscribe = feed.subscribe((s) => {
      if (res.writableLength > MAX_BUFFERED) {
        res.destroy();
        return;
      }
      res.write(`id: ${++seq}\nevent: snapshot\ndata: ${JSON.stringify(s)}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const close = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
    req.raw.on('close', close);
    res.on('error', close);
  });
}
