// A --json answer larger than its pipe holds reaches a reader that takes its time, whole. Node writes to
// a pipe asynchronously; a CLI that exits as soon as its command returns cuts the answer at what the
// pipe took: 64 KB through a shell pipe, about 210 KB through a child process's socket pair (the bench
// got `start --json` of a 5,000-shard plan as 219,264 bytes of broken JSON).
import { describe, expect, it } from 'vitest';
import { collect, spawnCli } from '../../../test-support/cli.js';
import { migratedDatabase } from '../../../test-support/db.js';
import { seedLegacyRows } from '../../../test-support/seed.js';

describe('stdout through a slow pipe', () => {
  it('start --json of a 20,000-shard plan (over 1 MB) arrives whole when the reader waits a second first', async () => {
    const url = await migratedDatabase('cli_large_output');
    await seedLegacyRows(url, 200_000);
    // The dry run plans and prints, writing nothing.
    const child = spawnCli(['start', '--name', 'big', '--shard-rows', '10', '--json'], {
      DATABASE_URL: url,
      LOG_LEVEL: 'warn',
    });
    child.stdout!.pause();
    const result = collect(child); // attaches its reader now; the stream stays paused until resumed
    child.stdout!.pause();
    await new Promise((r) => setTimeout(r, 1000));
    child.stdout!.resume();
    const { code, stdout, stderr } = await result;
    expect(code, stderr).toBe(0);
    expect(stdout.length).toBeGreaterThan(1024 * 1024);
    const answer = JSON.parse(stdout);
    expect(answer.plan.shards).toHaveLength(20_000);
  });
});
