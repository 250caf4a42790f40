// One row's contents from its own stream and its run. The draw order (time, level, type, data, ci block,
// message) defines the rows other code relies on, so it must not be rearranged.

import { messageFor } from './messages.js';
import type { Rng } from './prng.js';
import { weighted } from './random.js';
import type { Run } from './runs.js';
import { dataFor } from './shapes.js';
import type { DemoLevel, JsonValue, RawRow } from './types.js';

const BASE_TIME_MS = Date.UTC(2024, 0, 1, 0, 0, 0);
/** Row i is stamped in [BASE + i·STEP, BASE + (i+1)·STEP): timestamps strictly increase. */
const TIME_STEP_MS = 250;

const levelOf = weighted<DemoLevel>([
  ['info', 74],
  ['debug', 17],
  ['warn', 7],
  ['error', 2],
]);

const eventTypeOf = weighted<string>([
  ['log.line', 38],
  ['metric', 18],
  ['step.started', 10],
  ['step.finished', 10],
  ['artifact.uploaded', 5],
  ['cache.restored', 6],
  ['checkpoint.saved', 5],
  ['retry.scheduled', 3],
  ['test.result', 5],
]);

export function rowAt(r: Rng, index: number, run: Run): RawRow {
  const ms = BASE_TIME_MS + index * TIME_STEP_MS + Math.floor(r() * TIME_STEP_MS);
  const level = levelOf(r);
  const eventType = eventTypeOf(r);
  let data: JsonValue = null;
  if (r() >= 0.06) {
    data = dataFor(eventType, level, r, run, ms);
    if (data !== null && r() < 0.75) {
      (data as { [k: string]: JsonValue })['ci'] = {
        pipeline: run.pipeline,
        commit: run.commit,
        branch: run.branch,
        actor: run.actor,
      };
    }
  }
  return {
    runId: run.id,
    ms,
    level,
    eventType,
    message: messageFor(eventType, level, r, data),
    data,
  };
}
