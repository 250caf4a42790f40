// Types of tcp-proxy.js (plain JavaScript so the bench can load it without a build).
/** blackhole: nothing arrives, nothing is closed; what is sent is held and delivered in order when the mode changes back. */
export type ProxyMode = { kind: 'pass' } | { kind: 'latency'; ms: number } | { kind: 'blackhole' };

export interface FaultProxy {
  /** The address to give the client instead of the target's, e.g. postgres://…@127.0.0.1:<port>/db. */
  port: number;
  /** latency: each chunk, in each direction, is held this long (so a round trip costs 2 × ms). */
  setMode(mode: ProxyMode): void;
  /** Resets (RST) every open connection, as a crashed middlebox or a restarted peer would. */
  resetAll(): void;
  /**
   * Arms a trap: the first chunk sent to the target for which `match` is true is delivered, but the
   * target's answer to it is dropped and that connection reset, so the work is done and the client never
   * hears of it (a reset mid-COMMIT). Resolves when the trap has sprung.
   */
  loseReplyTo(match: (chunk: Buffer) => boolean): Promise<void>;
  /** Open client connections. */
  connections(): number;
  close(): Promise<void>;
}

/** Rewrites a URL's port (and host) to go through the proxy. */
export function viaProxy(url: string, proxy: FaultProxy): string;

export function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy>;
