// Computing event ids for a batch, one row at a time as rows arrive (see read-batch.ts): a row is
// parsed, hashed and dropped at once, so a batch never holds its rows, only their ids.
import { tryEventIdOfJsonText, type Utf8Fields } from '@backfill/shared/event-id';
import { EventIdColumn } from './event-id-column.js';

/** A run_logs row as the batch read returns it: the input of the event-id computation. */
export interface SourceRow {
  id: string; // int8 arrives as a string
  /** The row version read (xid as text): the write skips the row if it changed since. */
  xmin: string;
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  /** jsonb as text: its id is that of JSON.parse(data), as pg itself would parse it (eventIdOfJsonText). */
  data: string | null;
}

/** The fields of a batch read (read-batch.ts), in this order: id, xmin, run_id, event_type, level, message, data. */
export const READ_FIELDS = 7;

// Reused for every row (the computation is synchronous): no object per row.
const fields: Utf8Fields = {
  bytes: Buffer.alloc(0),
  runId: 0,
  runIdEnd: 0,
  eventType: 0,
  eventTypeEnd: 0,
  level: 0,
  levelEnd: 0,
  message: 0,
  messageEnd: 0,
  data: 0,
  dataEnd: 0,
};

const TWO_32 = 2 ** 32;
const EMPTY = Buffer.alloc(0);

/** An int8's 8 big-endian bytes as decimal text (what node-pg gives for int8). */
function int8Text(bytes: Buffer, at: number): string {
  const hi = bytes.readInt32BE(at);
  // Within ±2^53 the number is exact as a double.
  if (hi >= -0x200000 && hi < 0x200000) return '' + (hi * TWO_32 + bytes.readUInt32BE(at + 4));
  return bytes.readBigInt64BE(at).toString();
}

const textAt = (bytes: Buffer, f: Int32Array, i: number): string | null =>
  f[2 * i]! < 0 ? null : bytes.toString('utf8', f[2 * i], f[2 * i + 1]);

export interface BadRow {
  id: string;
  reason: string;
}

export interface ComputedBatch {
  ids: string[];
  /** xmins[i]: the version ids[i] was read at. */
  xmins: string[];
  /** eventIds.at(i) is the event id of ids[i]. */
  eventIds: EventIdColumn;
  bad: BadRow[];
  /** Highest id read (the next cursor), including bad rows. */
  lastId: bigint;
  rowsRead: number;
}

/** Accumulates a batch's (id, event_id) pairs and bad rows. `add` never throws for a bad row. */
export class BatchBuilder {
  private readonly ids: string[] = [];
  private readonly xmins: string[] = [];
  private readonly eventIds: EventIdColumn;
  private readonly bad: BadRow[] = [];
  private lastIdText = '';
  private rowsRead = 0;

  /** `expectedRows` sizes the id buffer (the batch size); it grows if more rows come. */
  constructor(expectedRows = 1000) {
    this.eventIds = EventIdColumn.withCapacity(expectedRows);
  }

  add(src: SourceRow): void {
    this.rowsRead++;
    this.lastIdText = src.id;
    // data is jsonb's text: the id is that of JSON.parse(data), what pg itself would have returned.
    const result = tryEventIdOfJsonText(src);
    if (result.ok) {
      this.ids.push(src.id);
      this.xmins.push(src.xmin);
      this.eventIds.push(result.eventId);
    } else {
      this.bad.push({ id: src.id, reason: result.error.message });
    }
  }

  /**
   * A row of the binary batch read (read-batch.ts): `f` holds where each of the READ_FIELDS fields is
   * in `bytes`. The id is computed from the bytes; a row the byte path does not take is decoded as
   * node-pg decodes text and goes through add.
   */
  addFields(bytes: Buffer, f: Int32Array): void {
    const id = int8Text(bytes, f[0]!);
    const xmin = '' + bytes.readUInt32BE(f[2]!);
    fields.bytes = bytes;
    fields.runId = f[4]!;
    fields.runIdEnd = f[5]!;
    fields.eventType = f[6]!;
    fields.eventTypeEnd = f[7]!;
    fields.level = f[8]!;
    fields.levelEnd = f[9]!;
    fields.message = f[10]!;
    fields.messageEnd = f[11]!;
    fields.data = f[12]!;
    fields.dataEnd = f[13]!;
    const written = this.eventIds.pushEventIdOf(fields);
    fields.bytes = EMPTY; // do not keep the socket's chunk alive
    if (!written) {
      this.add({
        id,
        xmin,
        run_id: textAt(bytes, f, 2) as string,
        event_type: textAt(bytes, f, 3) as string,
        level: textAt(bytes, f, 4) as string,
        message: textAt(bytes, f, 5),
        data: textAt(bytes, f, 6),
      });
      return;
    }
    this.rowsRead++;
    this.lastIdText = id;
    this.ids.push(id);
    this.xmins.push(xmin);
  }

  result(): ComputedBatch {
    return {
      ids: this.ids,
      xmins: this.xmins,
      eventIds: this.eventIds,
      bad: this.bad,
      lastId: this.lastIdText ? BigInt(this.lastIdText) : 0n,
      rowsRead: this.rowsRead,
    };
  }
}

const YIELD_EVERY = 250;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A batch of rows already in memory. Yields to the event loop every few hundred rows so that queued
 * statements on other connections (the previous batch's write) are sent while we compute.
 */
export async function computeBatch(rows: SourceRow[]): Promise<ComputedBatch> {
  const b = new BatchBuilder(rows.length);
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await yieldToLoop();
    b.add(rows[i]!);
  }
  return b.result();
}
