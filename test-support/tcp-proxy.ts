// A fault-injecting TCP proxy for tests: put it between a process and PostgreSQL or Redis, then make
// the network pass, lag, go silent (black hole: packets vanish, nothing is closed, as in a partition)
// or reset every connection. Loopback only.
import { createServer, type Server, Socket } from 'node:net';

export type ProxyMode = { kind: 'pass' } | { kind: 'latency'; ms: number } | { kind: 'blackhole' };

export interface FaultProxy {
  /** The address to give the client instead of the target's, e.g. postgres://…@127.0.0.1:<port>/db. */
  port: number;
  setMode(mode: ProxyMode): void;
  /** Resets (RST) every open connection, as a crashed middlebox or a restarted peer would. */
  resetAll(): void;
  /** Open client connections. */
  connections(): number;
  close(): Promise<void>;
}

/** Rewrites a URL's port (and host) to go through the proxy. */
export function viaProxy(url: string, proxy: FaultProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let mode: ProxyMode = { kind: 'pass' };
  const pairs = new Set<{ client: Socket; upstream: Socket }>();

  /** Forwards one direction, applying the mode at the time each chunk arrives. */
  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      const m = mode;
      if (m.kind === 'blackhole') return; // dropped on the floor: the sender sees no error
      if (m.kind === 'latency') {
        from.pause();
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        }, m.ms);
        return;
      }
      if (!to.destroyed) to.write(chunk);
    });
  };

  const server: Server = createServer((client) => {
    const upstream = new Socket();
    const pair = { client, upstream };
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
    upstream.connect(target.port, target.host, () => {
      pipe(client, upstream);
      pipe(upstream, client);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    port,
    setMode(m) {
      mode = m;
    },
    resetAll() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
    },
    connections: () => pairs.size,
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
