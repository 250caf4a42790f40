// event-id v1: event_id = UUIDv5(EVENT_ID_NAMESPACE, UTF-8(JCS(canonical event object))).
// The canonical event object is {run_id, event_type, level, message, data}; every other column is ignored.
// See packages/shared/SPEC.md. Nothing in this file may change the output for any input, ever:
// a different rule is a v2 with a new namespace.

import { canonicalJson, isWellFormed, loneSurrogateReason, quote } from './canonical-json.js';
import {
  appendBytes,
  appendJsonText,
  appendJsonUtf8,
  appendQuotedUtf8,
  appendText,
  appendUuidText,
  beginCanonical,
  canonicalView,
} from './canonical-json-text.js';
import { describeType, EventIdError, preview } from './errors.js';
import { isUuid, parseUuid, uuidV5FromBytes, uuidV5OfBytes, writeUuidV5OfBytes } from './uuid-v5.js';

export const EVENT_ID_VERSION = 1;
export const EVENT_ID_NAMESPACE = '5dd057ff-48ed-4ea7-998f-0816c58d51ff';
const NAMESPACE_BYTES = parseUuid(EVENT_ID_NAMESPACE);
/** What the hash reads before the data: the namespace, then the canonical text's first key. */
const HASH_PREFIX = Buffer.concat([NAMESPACE_BYTES, Buffer.from('{"data":')]);

/** A JSON value as `JSON.parse` returns it (numbers are IEEE-754 doubles). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A run_logs row (or anything shaped like one). Columns other than the five below are ignored. */
export interface EventIdInput {
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  data: JsonValue | null;
  [k: string]: unknown;
}

const hasOwn = Object.prototype.hasOwnProperty;

function ownField(row: object, field: string): unknown {
  if (!hasOwn.call(row, field))
    throw new EventIdError(field, 'missing (the row must have this own property)');
  return (row as Record<string, unknown>)[field];
}

// Consecutive rows usually belong to the same run: remember the last run_id checked and lowercased.
// (Only ever set to a run_id that passed the checks; the initial value is a valid UUID too, never '' —
// an empty string must not slip through as "the same as last time".)
let lastRunId = '00000000-0000-0000-0000-000000000000';
let lastRunIdLower = lastRunId;

function canonicalRunId(runId: unknown): string {
  if (runId === lastRunId) return lastRunIdLower;
  if (typeof runId !== 'string')
    throw new EventIdError('run_id', `not a UUID string (${describeType(runId)})`);
  if (!isUuid(runId)) throw new EventIdError('run_id', `not a UUID (${preview(runId)})`);
  lastRunIdLower = runId.toLowerCase();
  lastRunId = runId;
  return lastRunIdLower;
}

// event_type and level take few values: their JSON literals are kept (short ones, a bounded number).
const QUOTED_LIMIT = 1024;
const QUOTED_MAX_LENGTH = 64;
const quoted = new Map<string, string>();

function textField(row: object, field: string): string {
  const v = ownField(row, field);
  if (typeof v !== 'string') throw new EventIdError(field, `not a string (${describeType(v)})`);
  const known = quoted.get(v);
  if (known !== undefined) return known;
  if (!isWellFormed(v)) throw new EventIdError(field, loneSurrogateReason(v));
  const q = quote(v);
  if (v.length <= QUOTED_MAX_LENGTH) {
    if (quoted.size >= QUOTED_LIMIT) quoted.clear();
    quoted.set(v, q);
  }
  return q;
}

/**
 * The RFC 8785 canonical JSON of the row's canonical event object — the exact text event_id v1 hashes.
 * Throws EventIdError naming the offending field.
 */
export function canonicalEvent(row: unknown): string {
  return canonicalText(row, dataOfValue);
}

function canonicalText(row: unknown, dataJsonOf: (data: unknown) => string): string {
  try {
    return buildCanonicalEvent(row, dataJsonOf);
  } catch (err) {
    // A row whose canonical JSON would exceed V8's maximum string length is a bad row, not a crash.
    if (err instanceof RangeError && /string length/i.test(err.message)) {
      throw new EventIdError('data', 'canonical JSON is longer than the maximum JavaScript string length');
    }
    throw err;
  }
}

/** The canonical JSON of the row's `data` (a JSON value, or null for SQL NULL). */
function dataOfValue(data: unknown): string {
  return data === null ? 'null' : canonicalJson(data, 'data');
}

/** The canonical JSON of the row's `data` given as JSON text (or null for SQL NULL). */
function dataOfText(text: unknown): string {
  if (text === null) return 'null';
  if (typeof text !== 'string') throw new EventIdError('data', `not JSON text (${describeType(text)})`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new EventIdError('data', `not valid JSON (${(err as Error).message})`);
  }
  return dataOfValue(value);
}

// The length of data's canonical JSON in the text buildCanonicalEvent built last.
let lastDataLength = 0;

function buildCanonicalEvent(row: unknown, dataJsonOf: (data: unknown) => string): string {
  const tail = canonicalTail(row);
  const data = dataJsonOf(ownField(row as object, 'data'));
  lastDataLength = data.length;
  return '{"data":' + data + tail;
}

/** What canonicalEvent's text starts with; data's canonical JSON follows it. */
export const CANONICAL_DATA_START = '{"data":'.length;

/**
 * canonicalEvent(row), and the length of data's canonical JSON in it (which starts at
 * CANONICAL_DATA_START): for the write path, which stores that JSON.
 */
export function canonicalEventWithDataLength(row: unknown): { text: string; dataLength: number } {
  const text = canonicalText(row, dataOfValue);
  return { text, dataLength: lastDataLength };
}

/**
 * What follows data in the canonical text, from the row's other four fields (checked in this order,
 * before data): keys in RFC 8785 order (UTF-16 code units), data < event_type < level < message < run_id.
 */
function canonicalTail(row: unknown): string {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new EventIdError('row', `not an object (${describeType(row)})`);
  }
  const runId = canonicalRunId(ownField(row, 'run_id'));
  const eventType = textField(row, 'event_type');
  const level = textField(row, 'level');
  const message = ownField(row, 'message');
  let messageJson: string;
  if (message === null) messageJson = 'null';
  else if (typeof message !== 'string') {
    throw new EventIdError('message', `not a string or null (${describeType(message)})`);
  } else if (!isWellFormed(message)) throw new EventIdError('message', loneSurrogateReason(message));
  else messageJson = quote(message);
  return (
    ',"event_type":' +
    eventType +
    ',"level":' +
    level +
    ',"message":' +
    messageJson +
    ',"run_id":"' +
    runId +
    '"}'
  );
}

/** event_id v1 of a row: lowercase hyphenated UUID v5. Throws EventIdError naming the offending field. */
export function eventId(row: unknown): string {
  return uuidV5FromBytes(canonicalEvent(row), NAMESPACE_BYTES);
}

export type TryEventIdResult = { ok: true; eventId: string } | { ok: false; error: EventIdError };

/** Like `eventId`, but returns a bad row's EventIdError instead of throwing it. */
export function tryEventId(row: unknown): TryEventIdResult {
  return attempt(eventId, row);
}

/** `compute(row)`, with an EventIdError returned instead of thrown (any other error is thrown). */
function attempt<T>(compute: (row: T) => string, row: T): TryEventIdResult {
  try {
    return { ok: true, eventId: compute(row) };
  } catch (err) {
    if (err instanceof EventIdError) return { ok: false, error: err };
    throw err;
  }
}

/** A run_logs row whose `data` is JSON text (jsonb read as `data::text`), or null for SQL NULL. */
export interface EventIdTextInput {
  run_id: string;
  event_type: string;
  level: string;
  message: string | null;
  data: string | null;
}

/**
 * The event_id of the row that has `JSON.parse(row.data)` as its data: exactly
 * `eventId({ ...row, data: JSON.parse(row.data) })`, usually without building the parsed value (see
 * canonical-json-text.ts). Text that is not JSON is an EventIdError on field `data`.
 */
export function eventIdOfJsonText(row: EventIdTextInput): string {
  // The fast path writes namespace ‖ canonical text as UTF-8 straight from data's text (see
  // canonical-json-text.ts); anything it does not take goes the way of eventId, JSON.parse first.
  const tail = canonicalTail(row);
  const data = ownField(row, 'data');
  if (typeof data === 'string') {
    beginCanonical(HASH_PREFIX);
    if (appendJsonText(data)) {
      appendText(tail);
      return uuidV5OfBytes(canonicalView());
    }
  }
  return uuidV5FromBytes(canonicalText(row, dataOfText), NAMESPACE_BYTES);
}

/** Like `eventIdOfJsonText`, but returns a bad row's EventIdError instead of throwing it. */
export function tryEventIdOfJsonText(row: EventIdTextInput): TryEventIdResult {
  return attempt(eventIdOfJsonText, row);
}

/**
 * Where one row's five fields are in `bytes`, each as the UTF-8 of its text (as PostgreSQL sends a
 * text column in its binary format): run_id, event_type, level, message and data's JSON text.
 */
export interface Utf8Fields {
  bytes: Uint8Array;
  runId: number;
  runIdEnd: number;
  eventType: number;
  eventTypeEnd: number;
  level: number;
  levelEnd: number;
  /** -1 for SQL NULL. */
  message: number;
  messageEnd: number;
  /** -1 for SQL NULL. */
  data: number;
  dataEnd: number;
}

const ASCII = (s: string) => Buffer.from(s, 'latin1');
const NULL_JSON = ASCII('null');
const EVENT_TYPE_KEY = ASCII(',"event_type":');
const LEVEL_KEY = ASCII(',"level":');
const MESSAGE_KEY = ASCII(',"message":');
const RUN_ID_KEY = ASCII(',"run_id":"');
const CLOSE = ASCII('"}');

/**
 * The event id of the row these fields decode to (UTF-8): `eventIdOfJsonText` of that row, computed
 * from the bytes without decoding them. undefined when data's text is not in a fast form (see
 * canonical-json-text.ts), run_id is not a UUID or a text is not valid UTF-8: decode the row and call
 * eventIdOfJsonText, which then also names any error.
 */
export function eventIdOfUtf8Fields(f: Utf8Fields): string | undefined {
  return canonicalOfUtf8Fields(f) ? uuidV5OfBytes(canonicalView()) : undefined;
}

/**
 * eventIdOfUtf8Fields, written as its 36 ASCII characters into `target` at `offset` instead of
 * returned as a string (the backfill packs a batch's ids into one buffer). false where
 * eventIdOfUtf8Fields would be undefined (nothing written then).
 */
export function writeEventIdOfUtf8Fields(f: Utf8Fields, target: Uint8Array, offset: number): boolean {
  if (!canonicalOfUtf8Fields(f)) return false;
  writeUuidV5OfBytes(canonicalView(), target, offset);
  return true;
}

/** Writes namespace ‖ canonical text of the fields; false if they are not all taken (see above). */
function canonicalOfUtf8Fields(f: Utf8Fields): boolean {
  const b = f.bytes;
  if (f.runId < 0 || f.eventType < 0 || f.level < 0) return false; // NULL: the decoded row's error
  beginCanonical(HASH_PREFIX);
  if (f.data < 0) appendBytes(NULL_JSON);
  else if (!appendJsonUtf8(b, f.data, f.dataEnd)) return false;
  appendBytes(EVENT_TYPE_KEY);
  if (!appendQuotedUtf8(b, f.eventType, f.eventTypeEnd)) return false;
  appendBytes(LEVEL_KEY);
  if (!appendQuotedUtf8(b, f.level, f.levelEnd)) return false;
  appendBytes(MESSAGE_KEY);
  if (f.message < 0) appendBytes(NULL_JSON);
  else if (!appendQuotedUtf8(b, f.message, f.messageEnd)) return false;
  appendBytes(RUN_ID_KEY);
  if (!appendUuidText(b, f.runId, f.runIdEnd)) return false;
  appendBytes(CLOSE);
  return true;
}
