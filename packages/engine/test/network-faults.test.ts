// The batch engine behind a faulty network (test-support/tcp-proxy.js between it and PostgreSQL):
// - a statement whose answer never comes (black hole) fails its connection after statement_timeout + 5 s
//   (the silence watchdog), and the range resumes once the network is back;
// - an outage longer than the reconnect budget ends the range with ConnectionLostError (kind unavailable);
// - the answer to a batch's COMMIT (or to its one-call form) lost after the server did the work: the
//   range reconnects, every row gets its id, and the shard's ledger counts each row once.
import { backfillPool, ConnectionLostError, processRange, verifyRange } from '@backfill/engine/backfill';
import { RUN_LOGS } from '@backfill/engine/db';
import { afterEach, describe, expect, it } from 'vitest';
import { migratedDatabase, withClient } from '../../../test-support/db.js';
import { waitFor } from '../../../test-support/fleet.js';
import { captureLogger } from '../../../test-support/logger.js';
import { insertRunningShard, seedLegacyRows } from '../../../test-support/seed.js';
import { type FaultProxy, startFaultProxy, viaProxy } from '../../../test-support/tcp-proxy.js';

const ROWS = 20_000;
const STATEMENT_TIMEOUT_MS = 1000;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

async function setup(name: string, shard = false) {
  const url = await migratedDatabase(`netfault_${name}`);
  await seedLegacyRows(url, ROWS);
  if (shard) await insertRunningShard(url, { name, runToId: ROWS, shardToId: ROWS });
  const u = new URL(url);
  proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port || 5432) });
  return { url, proxied: viaProxy(url, proxy) };
}

function rangeThrough(
  proxied: string,
  o: { writers: number; shard?: boolean; reconnectBudgetMs?: number; onBatch?: () => void },
) {
  const pool = backfillPool(proxied, {
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: STATEMENT_TIMEOUT_MS,
    max: 1 + o.writers,
    name: 'backfill-test',
  });
  const { logger, lines } = captureLogger('warn');
  const result = processRange({
    pool,
    table: RUN_LOGS,
    cursor: 0n,
    toId: BigInt(ROWS),
    batchSize: 500,
    commit: true,
    onBadRow: 'fail',
    writeDepth: o.writers,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: STATEMENT_TIMEOUT_MS,
    ...(o.shard && { shard: { runId: 1, shardNo: 0, epoch: 0 } }),
    ...(o.reconnectBudgetMs !== undefined && { reconnectBudgetMs: o.reconnectBudgetMs }),
    ...(o.onBatch && { onBatch: o.onBatch }),
    logger,
  });
  result.catch(() => {});
  return { result, lines, end: () => pool.end() };
}

const filled = (url: string) =>
  withClient(url, async (c) =>
    Number((await c.query('SELECT count(*) AS n FROM run_logs WHERE event_id IS NOT NULL')).rows[0].n),
  );

async function expectAllCorrect(url: string) {
  const report = await verifyRange({
    databaseUrl: url,
    mode: { full: true },
    logger: captureLogger().logger,
  });
  expect(report.mismatches).toBe(0);
  expect(report.nullCount).toBe(0);
  expect(report.rowsChecked).toBe(ROWS);
}

describe('the batch engine behind a faulty network', { timeout: 120_000 }, () => {
  it('a black-holed statement fails its connection after statement_timeout + 5 s; the range resumes when the network returns', async () => {
    const { url, proxied } = await setup('blackhole');
    let batches = 0;
    const r = rangeThrough(proxied, {
      writers: 2,
      onBatch: () => {
        batches++;
        if (batches === 3) proxy!.setMode({ kind: 'blackhole' });
      },
    });
    try {
      await waitFor('the partition to begin', async () => batches >= 3, 30_000, 20);
      const cut = Date.now();
      await waitFor(
        'the watchdog to give up on the silent connection',
        async () => r.lines.some((l) => /connection lost: reconnecting/.test(String(l.msg))),
        30_000,
        50,
      );
      const gaveUpAfter = Date.now() - cut;
      // statement_timeout + 5 s of silence, give or take a batch (not TCP's minutes, and not never).
      expect(gaveUpAfter).toBeGreaterThan(STATEMENT_TIMEOUT_MS);
      expect(gaveUpAfter).toBeLessThan(STATEMENT_TIMEOUT_MS + 5000 + 4000);
      const lost = r.lines.find((l) => /connection lost/.test(String(l.msg)));
      expect(String(lost?.err)).toMatch(/no answer from PostgreSQL/);
      proxy!.setMode({ kind: 'pass' });
      const result = await r.result;
      expect(result.complete).toBe(true);
      expect(result.retries).toBeGreaterThan(0);
      await expectAllCorrect(url);
    } finally {
      await r.end();
    }
  });

  it('an outage longer than the reconnect budget ends the range with ConnectionLostError (unavailable)', async () => {
    const { url, proxied } = await setup('budget');
    let batches = 0;
    const r = rangeThrough(proxied, {
      writers: 1,
      reconnectBudgetMs: 2000,
      onBatch: () => {
        if (++batches === 2) proxy!.setMode({ kind: 'blackhole' });
      },
    });
    try {
      const err = await r.result.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionLostError);
      expect((err as ConnectionLostError).kind).toBe('unavailable');
      expect((err as Error).message).toMatch(/reconnect budget/);
      // What committed before the partition stays; nothing else was written.
      expect(await filled(url)).toBeGreaterThanOrEqual(1000);
      expect(await filled(url)).toBeLessThan(ROWS);
    } finally {
      await r.end();
    }
  });

  // With two writers a batch is BEGIN, UPDATE, checkpoint, COMMIT (its commit waits for the batch
  // before it); with one writer it is a single call of backfill_apply_batch.
  for (const c of [
    { writers: 2, what: 'a COMMIT (two writers)', marker: 'COMMIT' },
    { writers: 1, what: 'a one-call batch (one writer)', marker: 'backfill_apply_batch' },
  ]) {
    it(`the answer to ${c.what} is lost after the server did the work: every row once, ledger exact`, async () => {
      const { url, proxied } = await setup(`lost_reply_${c.writers}`, true);
      let batches = 0;
      let sprung: Promise<void> | undefined;
      const r = rangeThrough(proxied, {
        writers: c.writers,
        shard: true,
        onBatch: () => {
          if (++batches === 4) sprung = proxy!.loseReplyTo((chunk) => chunk.includes(Buffer.from(c.marker)));
        },
      });
      try {
        const result = await r.result;
        expect(sprung, 'the trap was armed').toBeDefined();
        await sprung; // it did spring: one answer was lost
        expect(result.complete).toBe(true);
        expect(result.retries).toBeGreaterThan(0);
        await expectAllCorrect(url);
        const shard = await withClient(url, async (cl) => {
          const { rows } = await cl.query(
            'SELECT rows_updated::int AS rows, checkpoint_id::int AS ck FROM backfill_shards',
          );
          return rows[0];
        });
        // The batch whose answer was lost committed once, and its rows were not read again.
        expect(shard.rows).toBe(ROWS);
        expect(shard.ck).toBe(ROWS);
        // This process never heard of that batch, so it counts fewer rows than the ledger.
        expect(result.rowsUpdated).toBeLessThan(ROWS);
      } finally {
        await r.end();
      }
    });
  }
});
