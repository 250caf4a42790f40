// A store fault repeated many times a second (BullMQ's loop on a missing queue schema) is one line per
// window with a count of the repeats, not gigabytes of logs.
import { throttledErrorLog } from '@backfill/control/worker';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureLogger } from '../../../test-support/logger.js';

afterEach(() => vi.useRealTimers());

describe('throttledErrorLog', () => {
  it('logs a repeated message once per window, then how often it repeated', () => {
    vi.useFakeTimers({ now: 0 });
    const { logger, lines } = captureLogger();
    const onError = throttledErrorLog(logger, { runId: 7 }, 10_000);
    for (let i = 0; i < 5000; i++) onError(new Error('schema "bullmq" is not initialized'));
    onError(new Error('another fault'));
    expect(lines.map((l) => [l.err, l.repeatsSinceLast, l.runId])).toEqual([
      ['schema "bullmq" is not initialized', 0, 7],
      ['another fault', 0, 7],
    ]);
    vi.setSystemTime(10_000);
    onError(new Error('schema "bullmq" is not initialized'));
    expect(lines.at(-1)).toMatchObject({ err: 'schema "bullmq" is not initialized', repeatsSinceLast: 4999 });
    expect(lines).toHaveLength(3);
  });
});
