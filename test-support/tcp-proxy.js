// A fault-injecting TCP proxy for tests and the bench: put it between a process and PostgreSQL or Redis,
// then make the network pass, lag, go silent (black hole: as in a partition, nothing arrives and nothing
// is closed; what was sent meanwhile is held, as TCP would keep retransmitting it, and delivered in order
// if the network comes back), reset every connection, or lose the answer to one request (the server did
// the work, the client never hears of it: a reset mid-COMMIT). Loopback only. Plain JavaScript (types
// in tcp-proxy.d.ts) so `npm run bench` can use it without a build.
import { createServer, Socket } from 'node:net';

/** Rewrites a URL's port (and host) to go through the proxy. */
export function viaProxy(url, proxy) {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

export async function startFaultProxy(target) {
  let mode = { kind: 'pass' };
  const pairs = new Set();
  /** Armed by loseReplyTo: the first request matching it is forwarded, its answer dropped, then RST. */
  let trap = null;

  const reset = (pair) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  };

  /** Chunks held by a black hole, per direction, delivered in order when the network comes back. */
  const held = new Map();
  const flushHeld = () => {
    for (const [to, chunks] of held) if (!to.destroyed) for (const c of chunks) to.write(c);
    held.clear();
  };

  /** Forwards one direction, applying the mode at the time each chunk arrives. */
  const pipe = (pair, from, to, upstreamBound) => {
    from.on('data', (chunk) => {
      if (upstreamBound && trap && !pair.trapped && trap.match(chunk)) {
        pair.trapped = trap;
        trap = null;
      } else if (!upstreamBound && pair.trapped) {
        const sprung = pair.trapped;
        pair.trapped = null;
        reset(pair); // the answer is dropped: the client sees a reset, the work is done
        sprung.resolve();
        return;
      }
      const m = mode;
      if (m.kind === 'blackhole') {
        if (!held.has(to)) held.set(to, []);
        held.get(to).push(chunk); // the sender sees no error, the receiver nothing
        return;
      }
      if (m.kind === 'latency') {
        // Each chunk arrives `ms` late, in order (equal timeouts fire in the order they were set), while
        // the next ones are already on their way: a longer wire, not a narrower one.
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
        }, m.ms);
        return;
      }
      if (!to.destroyed) to.write(chunk);
    });
  };

  const server = createServer((client) => {
    const upstream = new Socket();
    const pair = { client, upstream, trapped: null };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    upstream.connect(target.port, target.host, () => {
      pipe(pair, client, upstream, true);
      pipe(pair, upstream, client, false);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = server.address().port;

  return {
    port,
    setMode(m) {
      mode = m;
      if (m.kind !== 'blackhole') flushHeld();
    },
    resetAll() {
      for (const pair of [...pairs]) reset(pair);
      held.clear();
    },
    loseReplyTo(match) {
      return new Promise((resolve) => {
        trap = { match, resolve };
      });
    },
    connections: () => pairs.size,
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
