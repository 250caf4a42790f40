// Computing event ids for a batch. Yields to the event loop every few hundred rows so that queued
// statements on other connections (the previous batch's write) are sent while we compute.
import { tryEventId } from '@backfill/shared/event-id';
import type { SourceRow } from './read-batch.js';

export interface BadRow {
  id: string;
  reason: string;
}

export interface ComputedBatch {
  ids: string[];
  eventIds: string[];
  bad: BadRow[];
  /** Highest id read (the next cursor), including bad rows. */
  lastId: bigint;
  rowsRead: number;
}

const YIELD_EVERY = 250;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function computeBatch(rows: SourceRow[]): Promise<ComputedBatch> {
  const ids: string[] = [];
  const eventIds: string[] = [];
  const bad: BadRow[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await yieldToLoop();
    const src = rows[i]!;
    let row: SourceRow | (Omit<SourceRow, 'data'> & { data: unknown });
    try {
      // Exactly what pg does for jsonb by default (JSON.parse), which event-id v1 is defined on.
      row = src.data === null ? src : { ...src, data: JSON.parse(src.data) };
    } catch (err) {
      bad.push({ id: src.id, reason: `data: not valid JSON (${(err as Error).message})` });
      continue;
    }
    const result = tryEventId(row);
    if (result.ok) {
      ids.push(src.id);
      eventIds.push(result.eventId);
    } else {
      bad.push({ id: src.id, reason: result.error.message });
    }
  }
  const last = rows[rows.length - 1];
  return { ids, eventIds, bad, lastId: last ? BigInt(last.id) : 0n, rowsRead: rows.length };
}
