// A worker's slots: its share for each run it serves, and a run's parallelism spread over the fleet.
import { ShardSlots, spreadCap } from '@backfill/control/worker';
import { describe, expect, it } from 'vitest';

describe('spreadCap', () => {
  it("is this worker's share of the run's parallelism among the live workers, rounded up", () => {
    expect(spreadCap(2, 2)).toBe(1);
    expect(spreadCap(2, 1)).toBe(2);
    expect(spreadCap(3, 2)).toBe(2); // 2 + 2 ≥ 3: the cap never keeps the run under its parallelism
    expect(spreadCap(2, 4)).toBe(1); // more workers than shards at once: one each, some idle
    expect(spreadCap(8, 3)).toBe(3);
  });

  it('never goes below one, and a run without parallelism (0) has no cap', () => {
    expect(spreadCap(1, 0)).toBe(1);
    expect(spreadCap(5, 0)).toBe(5); // no worker counted yet (its first heartbeat): as if alone
    expect(spreadCap(0, 3)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('ShardSlots', () => {
  it('shares its slots out over the runs served, at least one each', () => {
    const slots = new ShardSlots(4);
    expect(slots.shareFor(1)).toBe(4);
    expect(slots.shareFor(3)).toBe(1);
    expect(slots.shareFor(8)).toBe(1);
  });

  it('never runs more at once than it has slots', async () => {
    const slots = new ShardSlots(2);
    let now = 0;
    let most = 0;
    const job = () =>
      slots.run(async () => {
        most = Math.max(most, ++now);
        await new Promise((r) => setTimeout(r, 10));
        now--;
      });
    await Promise.all(Array.from({ length: 6 }, job));
    expect(most).toBe(2);
    expect(slots.inUse()).toBe(0);
  });
});
