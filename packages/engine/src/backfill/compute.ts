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
  const last = rows[rows.length - 1];
  const lastId = last ? BigInt(last.id) : 0n; // read before the loop releases the rows
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await yieldToLoop();
    const src = rows[i]!;
    // The row object is ours (fresh from pg): parse data in place rather than copy it.
    const row = src as Omit<SourceRow, 'data'> & { data: unknown };
    try {
      // Exactly what pg does for jsonb by default (JSON.parse), which event-id v1 is defined on.
      if (src.data !== null) row.data = JSON.parse(src.data);
    } catch (err) {
      bad.push({ id: src.id, reason: `data: not valid JSON (${(err as Error).message})` });
      continue;
    }
    const result = tryEventId(row);
    rows[i] = undefined as unknown as SourceRow; // let the row's garbage die young
    if (result.ok) {
      ids.push(src.id);
      eventIds.push(result.eventId);
    } else {
      bad.push({ id: src.id, reason: result.error.message });
    }
  }
  return { ids, eventIds, bad, lastId, rowsRead: rows.length };
}
