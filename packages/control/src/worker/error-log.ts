// A BullMQ worker reports a fault of its store on every turn of its loop; some faults (a schema not yet
// migrated, a dropped queue table) repeat many times a second. One line per distinct message per window,
// then a count of the repeats, keeps the logs readable and the disk unharmed.
import type { Logger } from '@backfill/engine/logger';

export function throttledErrorLog(
  log: Logger,
  fields: Record<string, unknown>,
  windowMs = 10_000,
): (err: Error) => void {
  const seen = new Map<string, { at: number; repeats: number }>();
  return (err) => {
    const now = Date.now();
    const key = err.message;
    const last = seen.get(key);
    if (last && now - last.at < windowMs) {
      last.repeats++;
      return;
    }
    if (seen.size > 100) seen.clear();
    seen.set(key, { at: now, repeats: 0 });
    log.warn({ ...fields, err: err.message, repeatsSinceLast: last?.repeats ?? 0 }, 'worker error');
  };
}
