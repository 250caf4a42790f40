// The `message` column: mostly short and repetitive like real logs (the insert path caches quoted
// messages on that assumption), with unicode mixed in and some NULLs. Drawn after `data`, from the same
// stream, so it can echo fields of the row's data.

import type { Rng } from './prng.js';
import { pick } from './random.js';
import type { DemoLevel, JsonValue } from './types.js';
import { LOG_LINES, UNICODE } from './vocabulary.js';

export function messageFor(type: string, level: DemoLevel, r: Rng, data: JsonValue): string | null {
  if (r() < 0.1) return null;
  const d = (data ?? {}) as { [k: string]: JsonValue };
  switch (type) {
    case 'log.line': {
      const line = pick(r, LOG_LINES);
      return r() < 0.25 ? `${line} — ${pick(r, UNICODE)}` : line;
    }
    case 'step.started':
      return `step ${String(d['step'])} started`;
    case 'step.finished':
      return `step ${String(d['step'])} ${String(d['status'])}`;
    case 'metric':
      return null;
    default:
      return level === 'error' || level === 'warn' ? `${type}: ${pick(r, UNICODE)}` : type;
  }
}
