// Computing event ids for a batch, one row at a time as rows arrive (see read-batch.ts): a row is
// parsed, hashed and dropped at once, so a batch never holds its rows, only their ids.
import { tryEventIdOfJsonText } from '@backfill/shared/event-id';
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
  /** jsonb as text: parsed (JSON.parse, as pg itself would) in the compute step, not on receive. */
  data: string | null;
}

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
