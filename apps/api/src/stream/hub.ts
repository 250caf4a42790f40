// Every open event stream of the process. A stream first catches up from the database (its run's rows
// after its resume point, page by page, up to the horizon, waiting for its socket to drain whenever its
// buffer is full), then goes live: the tail hands each batch of settled rows to the hub, which serializes each
// row once and writes it to every live stream of its run.
//
// Backpressure: a live stream whose unsent output passes --stream-buffer stops getting live rows; once
// its socket drains it catches up from the database again, at its own pace, from the last row it was
// sent. So memory per client stays bounded by one buffer plus one row, a slow client never holds up
// the others, and it loses nothing. A client that takes nothing for streamStallMs (60 s, checked at each
// heartbeat) while over its buffer is disconnected (it resumes with Last-Event-ID when it comes back).
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';
import { type EventIdColumnWatch, isMissingEventIdColumn } from '../db/event-id-column.js';
import { readLogs } from '../db/read-logs.js';
import type { LogRow } from '../schemas.js';
import { rowFrame, type SseStream } from './sse.js';
import { StreamTail } from './tail.js';

export interface HubOptions {
  pool: pg.Pool;
  databaseUrl: string;
  logger: Logger;
  column: EventIdColumnWatch;
  pollIntervalMs: number;
  heartbeatMs: number;
  streamBufferBytes: number;
  streamStallMs: number;
}

/** Rows per catch-up read. */
const CATCH_UP_PAGE = 500;
/** Catch-up output is written in pieces of about this size (one syscall each). */
const WRITE_CHUNK = 16 * 1024;

class Subscriber {
  /** Every row of the run with an id ≤ cursor has been sent (or is known not to exist). */
  cursor: bigint;
  live = false;
  /** When its buffer was first seen over the limit (ms), while it stays over. */
  overSince: number | undefined;
  constructor(
    readonly runId: string,
    cursor: bigint,
    readonly stream: SseStream,
  ) {
    this.cursor = cursor;
  }
}

export class StreamHub {
  private readonly runs = new Map<string, Set<Subscriber>>();
  private readonly live = new Map<string, Set<Subscriber>>();
  private readonly tail: StreamTail;
  private heartbeat: NodeJS.Timeout | undefined;
  private count = 0;
  private peakBuffered = 0;
  private closing = false;

  constructor(private readonly o: HubOptions) {
    this.tail = new StreamTail({
      pool: o.pool,
      databaseUrl: o.databaseUrl,
      logger: o.logger,
      column: o.column,
      pollIntervalMs: o.pollIntervalMs,
      watched: () => [...this.live.keys()],
      onRows: (rows, _from, to, runsWithRows) => this.deliver(rows, to, runsWithRows),
    });
  }

  /** Open streams. */
  get size(): number {
    return this.count;
  }

  /** Tells the tail rows were just inserted (this process's own writes: no need to wait for NOTIFY). */
  poke(): void {
    if (this.count > 0) this.tail.poke();
  }

  /** Serves run `runId` on `stream` from row id `cursor` (exclusive) on, until the stream closes. */
  subscribe(runId: string, cursor: bigint, stream: SseStream): void {
    if (this.closing) {
      stream.end();
      return;
    }
    const sub = new Subscriber(runId, cursor, stream);
    const set = this.runs.get(runId) ?? new Set<Subscriber>();
    this.runs.set(runId, set);
    set.add(sub);
    this.count++;
    if (this.count === 1) this.startShared();
    stream.onClose(() => this.remove(sub));
    void this.catchUp(sub);
  }

  /** Ends every stream (clients reconnect elsewhere with Last-Event-ID) and stops the tail. */
  async close(): Promise<void> {
    this.closing = true;
    for (const set of this.runs.values()) for (const sub of set) sub.stream.end();
    await this.stopShared();
  }

  private startShared(): void {
    this.tail.start();
    this.heartbeat = setInterval(() => this.beat(), this.o.heartbeatMs);
    this.heartbeat.unref();
  }

  private async stopShared(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await this.tail.stop();
  }

  private remove(sub: Subscriber): void {
    const set = this.runs.get(sub.runId);
    if (!set?.delete(sub)) return;
    this.count--;
    if (set.size === 0) this.runs.delete(sub.runId);
    this.unlive(sub);
    if (this.count === 0) void this.stopShared();
  }

  private unlive(sub: Subscriber): void {
    sub.live = false;
    const set = this.live.get(sub.runId);
    if (set?.delete(sub) && set.size === 0) this.live.delete(sub.runId);
  }

  private goLive(sub: Subscriber): void {
    sub.live = true;
    const set = this.live.get(sub.runId) ?? new Set<Subscriber>();
    this.live.set(sub.runId, set);
    set.add(sub);
  }

  /** Reads the run's rows after the subscriber's cursor up to the horizon, then joins the live rows. */
  private async catchUp(sub: Subscriber): Promise<void> {
    const { stream } = sub;
    try {
      for (;;) {
        if (stream.closed) return;
        const horizon = this.tail.horizon;
        if (horizon === null) {
          await Promise.race([this.tail.nextHorizon(), new Promise<void>((r) => stream.onClose(r))]);
          continue;
        }
        if (sub.cursor >= horizon) {
          this.goLive(sub);
          return;
        }
        const rows = await this.readPage(sub, horizon);
        if (stream.closed) return;
        // In writes of up to WRITE_CHUNK bytes (a syscall each) that keep the unsent output within the
        // buffer's limit (plus one row), waiting for the socket to drain whenever it is over.
        let chunk = '';
        let chunkEnd = sub.cursor;
        for (const row of rows) {
          const frame = rowFrame(row);
          const fits =
            chunk.length + frame.length <= WRITE_CHUNK &&
            stream.buffered + chunk.length + frame.length <= this.o.streamBufferBytes;
          if (chunk && !fits) {
            this.send(sub, chunk);
            sub.cursor = chunkEnd;
            chunk = '';
            if (stream.buffered > this.o.streamBufferBytes) await stream.drained();
            if (stream.closed) return;
          }
          chunk += frame;
          chunkEnd = BigInt(row.id);
        }
        if (chunk) {
          this.send(sub, chunk);
          sub.cursor = chunkEnd;
          if (stream.buffered > this.o.streamBufferBytes) await stream.drained();
          if (stream.closed) return;
        }
        if (rows.length < CATCH_UP_PAGE && horizon > sub.cursor) sub.cursor = horizon;
        // Caught up to `horizon`: live now if the tail has not moved meanwhile, else read on.
        if (sub.cursor === this.tail.horizon) {
          this.goLive(sub);
          return;
        }
      }
    } catch (err) {
      this.o.logger.warn(
        { err, runId: sub.runId },
        'stream: catching up failed; closing it (the client resumes)',
      );
      stream.end();
    }
  }

  private async readPage(sub: Subscriber, upTo: bigint): Promise<LogRow[]> {
    const read = () =>
      readLogs(this.o.pool, {
        runId: sub.runId,
        after: sub.cursor,
        upTo,
        limit: CATCH_UP_PAGE,
        withEventId: this.o.column.present,
      });
    try {
      return await read();
    } catch (err) {
      if (!isMissingEventIdColumn(err)) throw err;
      await this.o.column.check('stream read missed the column');
      return await read();
    }
  }

  /** The horizon moved to `to`: `rows` (id order) are the settled rows of runs that had live streams. */
  private deliver(rows: LogRow[], to: bigint, runsWithRows: Set<string>): void {
    const byRun = new Map<string, LogRow[]>();
    for (const row of rows) {
      const list = byRun.get(row.run_id);
      if (list) list.push(row);
      else byRun.set(row.run_id, [row]);
    }
    for (const [runId, subs] of this.live) {
      const list = byRun.get(runId);
      if (!list) {
        // Rows of this run settled, but it had no live stream when the tail read: its streams read them.
        if (runsWithRows.has(runId)) for (const sub of [...subs]) this.fallBehind(sub);
        continue;
      }
      const frames = list.map(rowFrame);
      const ids = list.map((r) => BigInt(r.id));
      // Most streams of a run are at the same point: the same text, one write each.
      let all: string | undefined;
      for (const sub of [...subs]) {
        if (sub.cursor < ids[0]!) {
          all ??= frames.join('');
          if (sub.stream.buffered + all.length <= this.o.streamBufferBytes) {
            this.send(sub, all);
            sub.cursor = to;
            continue;
          }
        }
        this.deliverEach(sub, frames, ids, to);
      }
    }
  }

  /** The frames a stream has not had yet, one by one, up to its buffer's limit (then it falls behind). */
  private deliverEach(sub: Subscriber, frames: string[], ids: bigint[], to: bigint): void {
    let chunk = '';
    let last = sub.cursor;
    for (let i = 0; i < frames.length; i++) {
      if (ids[i]! <= sub.cursor) continue;
      if (sub.stream.buffered + chunk.length > this.o.streamBufferBytes) {
        if (chunk) this.send(sub, chunk);
        sub.cursor = last;
        this.fallBehind(sub); // the rest comes from the database once the client has taken what it has
        return;
      }
      chunk += frames[i]!;
      last = ids[i]!;
    }
    if (chunk) this.send(sub, chunk);
    sub.cursor = to;
  }

  private send(sub: Subscriber, text: string): void {
    sub.stream.write(text);
    const b = sub.stream.buffered;
    if (b > this.peakBuffered) this.peakBuffered = b;
  }

  /** Open streams, those reading from the database (catching up or behind), the largest unsent buffer seen. */
  stats(): { open: number; catchingUp: number; peakBufferedBytes: number } {
    let live = 0;
    for (const set of this.live.values()) live += set.size;
    return { open: this.count, catchingUp: this.count - live, peakBufferedBytes: this.peakBuffered };
  }

  /** Off the live rows; catches up from the database once its socket has drained. */
  private fallBehind(sub: Subscriber): void {
    this.unlive(sub);
    void sub.stream.drained().then(() => this.catchUp(sub));
  }

  private beat(): void {
    const now = Date.now();
    for (const set of this.runs.values()) {
      for (const sub of set) {
        if (sub.stream.buffered > this.o.streamBufferBytes) {
          sub.overSince ??= now;
          if (now - sub.overSince > this.o.streamStallMs) {
            this.o.logger.info({ runId: sub.runId }, 'stream: client takes nothing; disconnected');
            sub.stream.destroy();
          }
          continue;
        }
        sub.overSince = undefined;
        sub.stream.comment('hb');
      }
    }
  }
}
