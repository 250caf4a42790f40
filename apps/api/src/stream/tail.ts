// The stream tail: one per process, shared by every stream, so the database work is bounded by time,
// not by clients. Each tick: a holder check while a gap is pending, a read of the ids above the horizon
// (every run's), and, when the horizon moves, one read of the watched runs' rows that settled. Ticks
// come from LISTEN (the API NOTIFYs after its inserts, on any process) and, for rows other writers
// insert, from a poll every --poll-interval; a pending gap is looked at again soon.
import { connectClient } from '@backfill/engine/db';
import { pgCodeOf } from '@backfill/engine/errors';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';
import type { EventIdColumnWatch } from '../db/event-id-column.js';
import { RUN_LOGS_CHANNEL } from '../db/notify.js';
import { idSequence, newIds, oldestSequenceHolder, settledRows, tableEnd } from '../db/tail.js';
import type { LogRow } from '../schemas.js';
import { applyHolders, applyRead, type HorizonState, horizonOf, startHorizon } from './horizon.js';

export interface TailOptions {
  pool: pg.Pool;
  /** For the LISTEN connection (its own, not the pool's). */
  databaseUrl: string;
  logger: Logger;
  column: EventIdColumnWatch;
  pollIntervalMs: number;
  /** Runs with live streams: their settled rows are read and handed to onRows. */
  watched: () => string[];
  /**
   * The horizon moved from `from` to `to`: `rows` are the watched runs' rows in (from, to]; `runsWithRows`
   * every run with a row there (also runs that were not watched when the read was made).
   */
  onRows: (rows: LogRow[], from: bigint, to: bigint, runsWithRows: Set<string>) => void;
}

const READ_LIMIT = 5000;
/** Ticks at most this often: a burst of NOTIFYs makes one tick, not one each. */
const MIN_TICK_GAP_MS = 10;
/** A pending gap is looked at again this soon (transactions that could fill it are short). */
const GAP_RECHECK_MS = 20;
/** Where the id column has no sequence: a gap is taken as dead after this long. */
const NO_SEQUENCE_SETTLE_US = 2_000_000n;
const LISTEN_RETRY_MS = 1000;

export class StreamTail {
  private state: HorizonState | undefined;
  private published: bigint | null = null;
  private running = false;
  private ticking = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private lastTickAt = 0;
  private sequence: { oid: number } | null | undefined;
  private listener: pg.Client | undefined;
  private connecting = false;
  private waiters: Array<() => void> = [];
  private failures = 0;
  private gapSince: number | undefined;

  constructor(private readonly o: TailOptions) {}

  /** Every row id ≤ this is visible or never will be; null until the tail has settled its start. */
  get horizon(): bigint | null {
    return this.published;
  }

  /** Resolves at the next publication of the horizon (or when the tail stops). */
  nextHorizon(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.listen();
    this.poke();
  }

  /** Stops ticking and listening; the next start settles a new start. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.state = undefined;
    this.published = null;
    this.wake();
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => {});
  }

  /** A tick soon (coalesced). */
  poke(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.schedule(Math.max(0, this.lastTickAt + MIN_TICK_GAP_MS - Date.now()));
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runTick(), ms);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async runTick(): Promise<void> {
    if (!this.running || this.ticking) return;
    this.ticking = true;
    this.again = false;
    this.lastTickAt = Date.now();
    let next = this.o.pollIntervalMs;
    try {
      const more = await this.tick();
      this.failures = 0;
      if (more === 'full') next = 0;
      else if (more === 'gap') next = GAP_RECHECK_MS;
    } catch (err) {
      this.failures++;
      next = Math.min(this.o.pollIntervalMs * 2 ** Math.min(this.failures, 5), 30_000);
      if (pgCodeOf(err) === '42703') await this.o.column.check('stream read failed').catch(() => {});
      this.o.logger.warn({ err, retryInMs: next }, 'stream tail: read failed (streams wait; will retry)');
    } finally {
      this.ticking = false;
    }
    if (!this.running) return;
    if (this.again) next = Math.min(next, MIN_TICK_GAP_MS);
    this.schedule(next);
  }

  /** One tick; says whether to come back at once (a full read) or soon (a pending gap). */
  private async tick(): Promise<'full' | 'gap' | 'idle'> {
    const { pool } = this.o;
    if (this.sequence === undefined) {
      const seq = await idSequence(pool);
      if (!seq) {
        this.o.logger.warn(
          'run_logs.id has no sequence: streams take an id gap as dead after 2 s (a row committing later below it could be missed)',
        );
      } else if (seq.cache > 1) {
        this.o.logger.warn(
          { sequence: seq.name, cache: seq.cache },
          'the id sequence has CACHE > 1: ids are not handed out in order across sessions, so a stream may miss a row that commits late; ALTER SEQUENCE … CACHE 1',
        );
      }
      this.sequence = seq;
    }
    if (!this.state) {
      const end = await tableEnd(pool);
      this.state = startHorizon(end.maxId, end.at);
    }
    let s = this.state;
    if (s.pending.length > 0) {
      const oldest = this.sequence
        ? await oldestSequenceHolder(pool, this.sequence.oid)
        : (await tableEnd(pool)).at - NO_SEQUENCE_SETTLE_US;
      s = applyHolders(s, oldest);
      this.state = s;
      if (s.ready && this.published === null) this.publish(s.h, [], s.h, new Set());
    }
    if (!s.ready) return 'gap';
    const from = s.h;
    const read = await newIds(pool, from, READ_LIMIT);
    const full = read.ids.length === READ_LIMIT;
    const next = applyRead(s, read.ids, full, read.at);
    this.noteGap(next);
    if (next.h > from) {
      const runsWithRows = new Set<string>();
      for (let i = 0; i < read.ids.length && read.ids[i]! <= next.h; i++) runsWithRows.add(read.runIds[i]!);
      const watched = this.o.watched().filter((r) => runsWithRows.has(r));
      const rows =
        watched.length > 0 ? await settledRows(pool, from, next.h, watched, this.o.column.present) : [];
      this.state = next;
      this.publish(from, rows, next.h, runsWithRows);
    } else {
      this.state = next;
    }
    if (full) return 'full';
    return next.pending.length > 0 ? 'gap' : 'idle';
  }

  private publish(from: bigint, rows: LogRow[], to: bigint, runsWithRows: Set<string>): void {
    this.published = to;
    if (to > from || rows.length > 0) this.o.onRows(rows, from, to, runsWithRows);
    this.wake();
  }

  /** A warning when the horizon has been held back by a gap for a while (a long transaction). */
  private noteGap(s: HorizonState): void {
    if (s.pending.length === 0) {
      this.gapSince = undefined;
      return;
    }
    const now = Date.now();
    this.gapSince ??= now;
    if (now - this.gapSince > 5000) {
      this.o.logger.warn(
        { horizon: horizonOf(s)?.toString(), heldMs: now - this.gapSince },
        'streams held back: a transaction that took run_logs ids is still open (rows above the horizon wait for it)',
      );
      this.gapSince = now;
    }
  }

  private listen(): void {
    if (this.connecting) return;
    this.connecting = true;
    void (async () => {
      while (this.running && !this.listener) {
        let c: pg.Client | undefined;
        try {
          c = await connectClient(this.o.databaseUrl, { application_name: 'backfill-api-listen' });
          await c.query(`LISTEN ${RUN_LOGS_CHANNEL}`);
          if (!this.running) {
            await c.end();
            break;
          }
          const client = c;
          client.on('notification', () => this.poke());
          client.once('end', () => {
            if (this.listener !== client) return; // stopped on purpose
            this.listener = undefined;
            this.o.logger.warn('stream tail: the LISTEN connection ended (polling meanwhile); reconnecting');
            if (this.running) setTimeout(() => this.listen(), LISTEN_RETRY_MS).unref();
          });
          this.listener = client;
          this.poke(); // whatever was notified while not listening
        } catch (err) {
          await c?.end().catch(() => {});
          this.o.logger.warn({ err }, 'stream tail: LISTEN failed (polling meanwhile); will retry');
          await new Promise((r) => setTimeout(r, LISTEN_RETRY_MS).unref());
        }
      }
      this.connecting = false;
    })();
  }
}
