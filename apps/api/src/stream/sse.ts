// One server-sent event stream on a raw HTTP response: the frames of the SSE contract, and what the
// stream knows about its client's pace (bytes written but not yet taken by the socket).
//
// A frame per row:   id: <event_id, or the row id where the row has none>
//                    data: <the row as JSON, as GET /runs/:runId/logs returns it>
// A comment line (`: hb`) every --heartbeat; `retry: <ms>` once at the start.
import type { ServerResponse } from 'node:http';
import type { LogRow } from '../schemas.js';

/** The SSE id of a row: its event_id, or its row id (a number) where it has none. */
export const sseIdOf = (row: LogRow): string => row.event_id ?? row.id;

/** The frame of one row. JSON.stringify never emits a newline, so the data is one line. */
export function rowFrame(row: LogRow): string {
  return `id: ${sseIdOf(row)}\ndata: ${JSON.stringify(row)}\n\n`;
}

export class SseStream {
  private closedFlag = false;
  private readonly closeListeners: Array<() => void> = [];

  constructor(private readonly res: ServerResponse) {
    res.on('close', () => {
      if (this.closedFlag) return;
      this.closedFlag = true;
      for (const fn of this.closeListeners.splice(0)) fn();
    });
  }

  /** The response head and the client's reconnect delay. */
  open(retryMs: number): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx: do not buffer the stream
    });
    this.res.write(`retry: ${retryMs}\n\n`);
  }

  get closed(): boolean {
    return this.closedFlag || this.res.destroyed;
  }

  /** Bytes written that the socket has not taken yet. */
  get buffered(): number {
    return this.res.writableLength;
  }

  write(frame: string): void {
    if (!this.closed) this.res.write(frame);
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  /** Resolves when the socket has taken what was buffered (or the stream closed). */
  drained(): Promise<void> {
    if (this.closed || this.buffered === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeListeners.push(fn);
  }

  /** Ends the stream cleanly (the client reconnects with Last-Event-ID). */
  end(): void {
    if (!this.closed) this.res.end();
  }

  /** Drops the connection (a client that stopped reading). */
  destroy(): void {
    this.res.destroy();
  }
}
