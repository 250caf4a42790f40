// The one error type of event-id v1: which field of the row is wrong, and why.

/**
 * Thrown (or returned by `tryEventId`) when a row cannot be given an event_id.
 * `field` is a path into the row, e.g. `run_id`, `data`, `data.a.b[2]` or `data["odd key"]`;
 * `reason` says what is wrong; `message` is `${field}: ${reason}`.
 */
export class EventIdError extends Error {
  readonly field: string;
  readonly reason: string;

  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'EventIdError';
    this.field = field;
    this.reason = reason;
  }
}

/** A short description of a value's type for error messages: `number`, `null`, `array`, `Date`, … */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Array.prototype) return 'array';
  if (proto === null || proto === Object.prototype) return 'object';
  const ctor = (proto as { constructor?: unknown }).constructor;
  if (typeof ctor === 'function' && ctor.name) return ctor.name;
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** `"abc"` shortened to at most `max` characters, for error messages. */
export function preview(s: string, max = 40): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}
