// The determinism loop end to end: 10,000 events written through the API (realistic rows, random JSON
// and the number, key and string edge cases, sent as clients spell them), their event_id set to NULL,
// then backfilled once with `backfill run` and once with a fleet of two workers: every id the backfill
// computes from the stored row equals the one the API wrote. The API's pages return the rows in order.
import { generateDemoRows } from '@backfill/demo-data';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { migratedDatabase } from '../../../test-support/db.js';
import { distributedEnv, removeRedisKeys, startRun } from '../../../test-support/distributed.js';
import { startFleet, stopFleet, waitForRunStatus } from '../../../test-support/fleet.js';
import { post, startApi, type TestApi } from './helpers.js';

const PREFIX = `bft-api-determinism-${process.pid}`;
afterAll(() => removeRedisKeys(PREFIX));

const TOTAL = 10_000;
const EDGE_RUN = '0e0e0e0e-0000-4000-8000-000000000001';
const RANDOM_RUN = '0e0e0e0e-0000-4000-8000-000000000002';

/** `data` as clients write it: spellings that jsonb and JSON.parse normalise, keys in any order, unicode. */
const EDGE_DATA: string[] = [
  '1.0',
  '{"a":1.50,"b":-0,"c":1E2,"d":0.10000000000000001,"e":-0.0}',
  '{"n":9007199254740991,"m":-9007199254740992,"t":100000000000000000000,"u":1000000000000000000000}',
  '{"tiny":5e-324,"max":1.7976931348623157e308,"neg":-1.7976931348623157e308,"f":1.2345678901234567890e3}',
  '{"z":1,"a":{"y":2,"b":[3,{"x":4,"c":5}]}}',
  '{"a":1,"a":2}',
  '{"é":"e\\u0301","e\\u0301":"é","😀":"\\ud83d\\ude00","\\u20ac":1,"\\ufb33":2}',
  '{"":"","\\u2028":"\\u2029","ctl":"\\u0001\\u001f\\b\\f\\n\\r\\t","q":"\\"\\\\/"}',
  '{"__proto__":{"polluted":true},"constructor":{"prototype":1},"toString":"x"}',
  '{"timestamp":"2024-01-01T00:00:00Z","id":7,"event_id":"not mine","run_id":null}',
  '[]',
  '{}',
  '[null,true,false,0,"0",[],{}]',
  '"just a string"',
  'null',
  '12345',
  `${'['.repeat(1000)}${']'.repeat(1000)}`,
  `{"long":"${'ü'.repeat(20_000)}"}`,
];

function edgeBodies(): string[] {
  const bodies: string[] = [];
  for (const [i, data] of EDGE_DATA.entries()) {
    bodies.push(`{"event_type":"edge.${i}","data":${data}}`);
    bodies.push(`{"event_type":"edge.${i}","level":"warn","message":"m ${i} ☃","data":${data}}`);
  }
  bodies.push('{"event_type":"edge.nothing"}', '{"event_type":"edge.nulls","message":null,"data":null}');
  bodies.push('{"event_type":"\\u00e9v\\u00e9nement","level":"ERROR","message":"\\ud83d\\ude80 launch"}');
  return bodies;
}

const storable = (v: unknown): boolean =>
  typeof v === 'string'
    ? !v.includes('\u0000') && (v as string & { isWellFormed(): boolean }).isWellFormed()
    : Array.isArray(v)
      ? v.every(storable)
      : v !== null && typeof v === 'object'
        ? Object.entries(v).every(([k, x]) => storable(k) && storable(x))
        : true;

async function written(api: TestApi, body: unknown, into: Map<string, string | null>, runId?: string) {
  const res = await post(api, body, runId);
  expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
  const json = res.json();
  for (const r of json.events ?? [json]) into.set(r.id, r.event_id);
}

async function idsNow(api: TestApi): Promise<Map<string, string | null>> {
  const { rows } = await api.pool.query('SELECT id::text AS id, event_id FROM run_logs');
  return new Map(rows.map((r) => [r.id as string, r.event_id as string | null]));
}

describe('the determinism loop', { timeout: 240_000 }, () => {
  it('10k events through the API; backfilled by run, then by two workers: every id is the one the API wrote', async () => {
    const url = await migratedDatabase('api_determinism');
    const api = await startApi(url);
    const byApi = new Map<string, string | null>();
    try {
      // Edge cases, one POST each, as raw JSON text.
      for (const body of edgeBodies()) await written(api, body, byApi, EDGE_RUN);
      // Random JSON (fast-check), storable, in batches.
      const randomCount = 500;
      const values = fc
        .sample(
          fc.oneof(
            fc.jsonValue(),
            fc.jsonValue({ stringUnit: 'grapheme' }),
            fc.jsonValue({ stringUnit: 'binary' }),
          ),
          { numRuns: randomCount * 2 },
        )
        .filter(storable)
        .slice(0, randomCount);
      for (let i = 0; i < values.length; i += 100) {
        const events = values.slice(i, i + 100).map((data, j) => ({ event_type: `random.${i + j}`, data }));
        await written(api, { events }, byApi, RANDOM_RUN);
      }
      // Realistic rows (the demo's generator) for the rest, batched per run, up to 1000 a POST.
      const demo = generateDemoRows(TOTAL - byApi.size, { seed: 11 });
      const perRun = new Map<string, typeof demo>();
      for (const r of demo) perRun.set(r.runId, [...(perRun.get(r.runId) ?? []), r]);
      for (const [run, rows] of perRun) {
        for (let i = 0; i < rows.length; i += 1000) {
          const events = rows.slice(i, i + 1000).map((r) => ({
            event_type: r.eventType,
            level: r.level,
            message: r.message,
            data: r.data,
            timestamp: r.timestamp.toISOString(),
          }));
          await written(api, { events }, byApi, run);
        }
      }
      expect(byApi.size).toBe(TOTAL);
      expect([...byApi.values()].every((id) => typeof id === 'string' && id.length === 36)).toBe(true);
      expect(await idsNow(api)).toEqual(byApi);

      // Pages of the biggest run, in id order, with the cursor the API hands out.
      const [bigRun, bigRows] = [...perRun].sort((a, b) => b[1].length - a[1].length)[0]!;
      const paged: string[] = [];
      for (let after: string | null = '0'; after !== null; ) {
        const res: { statusCode: number; json(): unknown } = await api.app.inject({
          method: 'GET',
          url: `/runs/${bigRun}/logs?after=${after}&limit=97`,
        });
        expect(res.statusCode).toBe(200);
        const page = res.json() as { rows: Array<{ id: string }>; next: string | null };
        paged.push(...page.rows.map((r) => r.id));
        after = page.next;
      }
      expect(paged).toHaveLength(bigRows.length);
      expect(paged).toEqual([...paged].sort((a, b) => Number(BigInt(a) - BigInt(b))));

      // Once with `backfill run`.
      const env = distributedEnv(url, PREFIX);
      await api.pool.query('UPDATE run_logs SET event_id = NULL');
      const run = await runCli(['run', '--commit', '--json'], env);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ rowsUpdated: TOTAL, complete: true });
      expect(await idsNow(api)).toEqual(byApi);

      // Once with two workers.
      await api.pool.query('UPDATE run_logs SET event_id = NULL');
      await startRun(env, 'api-determinism', ['--shard-rows', '2500', '--batch-size', '1000']);
      const fleet = startFleet(2, env);
      try {
        await waitForRunStatus(url, 'api-determinism', 'completed', 120_000);
      } finally {
        await stopFleet(fleet);
      }
      expect(await idsNow(api)).toEqual(byApi);
    } finally {
      await api.close();
    }
  });
});
