// The `data` JSON of each event type: nested objects, arrays, nulls, floats, big integers, timestamps
// as strings and as numbers, because production rows have all of them and the backfill must copy them
// exactly. One builder per event type; each draws from `r` in a fixed order that the rows depend on.

import type { Rng } from './prng.js';
import { hexString, int, isoAround, pick, round } from './random.js';
import type { Run } from './runs.js';
import type { DemoLevel, JsonValue } from './types.js';
import { CONTENT_TYPES, ERROR_CODES, LOG_LINES, METRICS, STEPS, UNICODE } from './vocabulary.js';

type JsonObject = { [k: string]: JsonValue };

export function dataFor(type: string, level: DemoLevel, r: Rng, run: Run, ms: number): JsonValue {
  switch (type) {
    case 'step.started':
      return stepStarted(r, run, ms);
    case 'step.finished':
      return stepFinished(level, r, run);
    case 'log.line':
      return logLine(r);
    case 'metric':
      return metric(r, run, ms);
    case 'artifact.uploaded':
      return artifactUploaded(r);
    case 'cache.restored':
      return cacheRestored(r, run);
    case 'checkpoint.saved':
      return checkpointSaved(r, ms);
    case 'retry.scheduled':
      return retryScheduled(r);
    default: // test.result
      return testResult(level, r);
  }
}

function stepStarted(r: Rng, run: Run, ms: number): JsonValue {
  const d: JsonObject = {
    step: pick(r, STEPS),
    attempt: int(r, 1, 3),
    runner: { host: run.host, os: pick(r, ['linux', 'macos', 'windows']), cpus: pick(r, [2, 4, 8, 16]) },
    labels: r() < 0.5 ? ['self-hosted', run.region] : [],
  };
  if (r() < 0.25) d['scheduled'] = { timestamp: isoAround(ms, r), queue: pick(r, ['default', 'gpu']) };
  return d;
}

function stepFinished(level: DemoLevel, r: Rng, run: Run): JsonValue {
  const failed = level === 'error' || r() < 0.04;
  return {
    step: pick(r, STEPS),
    status: failed ? 'failure' : r() < 0.1 ? 'skipped' : 'success',
    duration_ms: int(r, 5, 600_000),
    exit_code: failed ? int(r, 1, 137) : 0,
    cached: r() < 0.3,
    branch: run.branch,
  };
}

function logLine(r: Rng): JsonValue {
  return r() < 0.35
    ? null
    : {
        stream: r() < 0.8 ? 'stdout' : 'stderr',
        line: int(r, 1, 50_000),
        step: pick(r, STEPS),
        elapsed_ms: round(r() * 100_000, 3),
        truncated: r() < 0.02,
      };
}

function metric(r: Rng, run: Run, ms: number): JsonValue {
  const [name, unit, max] = pick(r, METRICS);
  const d: JsonObject = {
    name,
    value: round(r() * max, int(r, 0, 4)),
    unit,
    tags: { host: run.host, region: run.region },
  };
  if (r() < 0.35) d['samples'] = Array.from({ length: int(r, 1, 5) }, () => round(r() * max, 3));
  if (r() < 0.2) d['timestamp'] = ms - int(r, 0, 5000); // epoch millis, nested
  if (r() < 0.05) d['ratio'] = r() < 0.5 ? 1e-7 : -0.5; // exponent notation and negatives
  return d;
}

function artifactUploaded(r: Rng): JsonValue {
  return {
    name: `${pick(r, ['report', 'coverage', 'rapport-été', 'レポート', 'bundle'])}-${int(r, 1, 999)}.tar.gz`,
    size_bytes: int(r, 100, 2_000_000_000),
    sha256: hexString(r, 64),
    content_type: pick(r, CONTENT_TYPES),
    retention_days: pick(r, [1, 7, 30, 90]),
    public: r() < 0.1,
  };
}

function cacheRestored(r: Rng, run: Run): JsonValue {
  const hit = r() < 0.7;
  return {
    key: `npm-${run.region}-${hexString(r, 12)}`,
    hit,
    size_bytes: hit ? int(r, 1000, 900_000_000) : 0,
    restore_ms: hit ? round(r() * 9000, 2) : null,
  };
}

function checkpointSaved(r: Rng, ms: number): JsonValue {
  return {
    cursor: { shard: int(r, 0, 63), last_id: int(r, 1, 9_000_000_000) },
    progress: round(r(), 4),
    at: { timestamp: isoAround(ms, r), tz: pick(r, ['UTC', 'Europe/Zürich', 'Asia/Tōkyō']) },
    notes: r() < 0.3 ? pick(r, UNICODE) : null,
  };
}

function retryScheduled(r: Rng): JsonValue {
  return {
    attempt: int(r, 1, 5),
    delay_ms: pick(r, [250, 500, 1000, 2000, 4000]),
    error: { code: pick(r, ERROR_CODES), errno: -int(r, 1, 130), message: pick(r, LOG_LINES) },
  };
}

function testResult(level: DemoLevel, r: Rng): JsonValue {
  return {
    suite: pick(r, ['engine', 'cli', 'worker', 'ui']),
    name: `${pick(r, ['handles', 'rejects', 'resumes'])} ${pick(r, UNICODE)}`,
    passed: level !== 'error',
    duration_ms: round(r() * 2000, 1),
    retries: r() < 0.1 ? int(r, 1, 3) : 0,
    tags: r() < 0.5 ? ['slow', 'db'] : [],
  };
}
