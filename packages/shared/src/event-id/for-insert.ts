// The write path of an application that inserts run_logs rows itself: the row's event_id computed before
// the INSERT, and the values to bind, so that the backfill (which reads the row back and hashes it) can
// only ever compute the same id. Pure, no I/O. Nothing here changes what an event_id is (SPEC.md): this
// file only prepares inserts.
//
// Why the data is bound as the canonical JSON of the very value that was hashed (the `data` part of the
// text event-id hashes, which is JSON.stringify's output with sorted keys): PostgreSQL stores jsonb
// numbers as `numeric` and the backfill reads them back with JSON.parse, so the id is that of the
// doubles. Each double is printed in its shortest round-trip form, which jsonb stores exactly and
// JSON.parse turns back into the same double: the value read back is the value hashed, always.
// What jsonb cannot hold at all (U+0000 in a string or a key, and in text columns) is refused here,
// instead of failing the INSERT.

import { canonicalJson } from './canonical-json.js';
import { EventIdError } from './errors.js';
import {
  CANONICAL_DATA_START,
  canonicalEventWithDataLength,
  EVENT_ID_NAMESPACE,
  type EventIdInput,
  eventId,
} from './event-id.js';
import { parseUuid, uuidV5FromBytes } from './uuid-v5.js';

const NAMESPACE_BYTES = parseUuid(EVENT_ID_NAMESPACE);
const RUN_ID_FROM_END = 36 + 2;

/** A run_logs row as the application builds it (event-id v1's input). */
export type NewRunLogRow = EventIdInput;

/** The row with its event_id, as `withEventId` returns it. */
export type WithEventId<T extends NewRunLogRow> = T & { event_id: string };

/** The values to bind for `INSERT INTO run_logs (run_id, level, event_type, message, data, event_id)`. */
export interface PreparedRunLogRow {
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  /** The JSON text to bind as `$n::jsonb` (null for SQL NULL): the canonical JSON of the data hashed. */
  data: string | null;
  event_id: string;
}

const NUL = '\u0000';
const NUL_REASON = 'U+0000 cannot be stored by PostgreSQL (text and jsonb refuse it)';

// In JSON.stringify's output a U+0000 is the escape `\u0000`; the same six characters also end a
// backslash written as `\\` followed by the text "u0000", so the backslashes before it are counted.
const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;

function textNul(field: string, v: string | null): void {
  if (v?.includes(NUL)) throw new EventIdError(field, NUL_REASON);
}

/** Where the first U+0000 in `data` is (error path only), in event-id's path notation. */
function nulPath(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes(NUL) ? path : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = nulPath(value[i], `${path}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const here = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
      if (k.includes(NUL)) return here;
      const p = nulPath(v, here);
      if (p) return p;
    }
  }
  return undefined;
}

/**
 * The row with `event_id` set to its event-id v1. The row must carry all five fields (`level` too: if
 * the INSERT leaves it to the column default `'info'`, hash `'info'`). Throws EventIdError naming the
 * field (as `eventId` does).
 */
export function withEventId<T extends NewRunLogRow>(row: T): WithEventId<T> {
  return { ...row, event_id: eventId(row) };
}

/**
 * The values to bind for one INSERT of `row`: its event_id, and `data` as the JSON text to bind as
 * `$n::jsonb` — the canonical JSON of exactly the value hashed, which PostgreSQL stores and gives back
 * to the backfill unchanged. Throws EventIdError naming the field for a row that has no event_id (SPEC.md)
 * or that PostgreSQL cannot store (U+0000 in a text column or anywhere in data).
 */
export function prepareRunLogInsert(row: NewRunLogRow): PreparedRunLogRow {
  const { text: canonical, dataLength } = canonicalEventWithDataLength(row);
  const id = uuidV5FromBytes(canonical, NAMESPACE_BYTES);
  // Canonical JSON writes a U+0000 as the escape `\u0000`, in the texts and in data alike: one look
  // finds every candidate, and refuseNul tells a real one from an escaped backslash before "u0000".
  if (canonical.includes('\\u0000')) refuseNul(row);
  // The data's canonical JSON, cut out of the text hashed (which utf8 encoding has made flat: a slice
  // of it is cheap to send, where data's own JSON is still a rope of small strings).
  const data =
    row.data === null ? null : canonical.slice(CANONICAL_DATA_START, CANONICAL_DATA_START + dataLength);
  return {
    // The text ends with `"run_id":"<36 characters, lowercase>"}`.
    run_id: canonical.slice(canonical.length - RUN_ID_FROM_END, canonical.length - 2),
    event_type: row.event_type,
    level: row.level,
    message: row.message,
    data,
    event_id: id,
  };
}

/** Throws for the first field of `row` that holds a U+0000 (texts first, then data), if any does. */
function refuseNul(row: NewRunLogRow): void {
  textNul('event_type', row.event_type);
  textNul('level', row.level);
  textNul('message', row.message);
  if (row.data === null) return;
  const data = canonicalJson(row.data);
  if (data.includes('\\u0000') && NUL_ESCAPE.test(data)) {
    throw new EventIdError(nulPath(row.data, 'data') ?? 'data', NUL_REASON);
  }
}
