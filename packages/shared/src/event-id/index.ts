// @backfill/shared/event-id — event-id v1, pure: only node built-ins (no pg, drizzle, bullmq or zod).
// The rules are frozen; see packages/shared/SPEC.md.

import { EVENT_ID_NAMESPACE } from './event-id.js';
import { uuidV5 as uuidV5In } from './uuid-v5.js';

export { canonicalJson, MAX_DEPTH } from './canonical-json.js';
export { canonicalJsonText } from './canonical-json-text.js';
export { EventIdError } from './errors.js';
export {
  canonicalEvent,
  EVENT_ID_NAMESPACE,
  EVENT_ID_VERSION,
  type EventIdInput,
  type EventIdTextInput,
  eventId,
  eventIdOfJsonText,
  eventIdOfUtf8Fields,
  type JsonValue,
  type TryEventIdResult,
  tryEventId,
  tryEventIdOfJsonText,
  type Utf8Fields,
  writeEventIdOfUtf8Fields,
} from './event-id.js';
export {
  type NewRunLogRow,
  type PreparedRunLogRow,
  prepareRunLogInsert,
  type WithEventId,
  withEventId,
} from './for-insert.js';

/**
 * UUID v5 (lowercase, hyphenated) of the UTF-8 bytes of `name`; the namespace defaults to EVENT_ID_NAMESPACE.
 * Throws TypeError for a namespace that is not a UUID or a name with a lone surrogate.
 */
export function uuidV5(name: string, namespace: string = EVENT_ID_NAMESPACE): string {
  return uuidV5In(name, namespace);
}
