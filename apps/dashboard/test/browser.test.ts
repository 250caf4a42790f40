// The dashboard page in a real browser (Debian's chromium driven by playwright-core) against a live
// distributed run: worker processes, PostgreSQL, Redis, and the dashboard served in-process with a
// token. What an operator does on the page, checked against the ledger: progress moves, an anonymous
// visitor cannot act (no usable button, and the API says 401), pause stops the writes and resume starts
// them again, a setting changes (and a bad one is shown as refused), a bad row fails its shard, which
// the map shows, retrying it from its panel once the row is fixed completes the run, finalize finalizes
// it, and on a second run pause-all and cancel do what they say. Screenshots of each stage go to
// artifacts/ at the repository root.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ControlContext, closeControl, openControl } from '@backfill/control';
import { createLogger } from '@backfill/engine/logger';
import { buildDashboard } from '@backfill/operator';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../../test-support/db.js';
import {
  distributedEnv,
  type Env,
  prepared,
  REDIS_URL,
  removeRedisKeys,
  startRun,
} from '../../../test-support/distributed.js';
import {
  type Fleet,
  rowsDone,
  runStatusOf,
  startFleet,
  stopFleet,
  WHOLE_SHARD_FLAGS,
  waitFor,
  waitForRunStatus,
} from '../../../test-support/fleet.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // Without these the browser keeps trying the network, which this machine refuses.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = fileURLToPath(new URL('../../../artifacts/', import.meta.url));
const PREFIX = `bft-browser-${process.pid}`;
const TOKEN = 'browser-test-token-0123456789';
const RUN = 'web';
const SECOND_RUN = 'web-again';
// Four shards of 10,000 rows, all worked at once (two workers of two slots), at 1,600 rows/s in all:
// the run lasts long enough to watch, pause and resume. The bad row sits late in the last shard.
const ROWS = 40_000;
const BAD_ID = 35_500;
const BAD_SHARD = 3; // ids 30,001..40,000
const BAD_DATA = `'{"big": 1e400}'::jsonb`;

// A ledger of 10,000 shards in every state (no worker serves a failed run): the map at scale.
const SYNTHETIC = 'synthetic-10k';
const SYNTHETIC_SHARDS = 10_000;
const SYNTHETIC_SQL = `
  WITH r AS (
    INSERT INTO backfill_runs (name, table_name, event_id_version, status, from_id, to_id, shard_rows, planner,
                               estimated_rows, settings, started_at, last_error)
    VALUES ($1, 'run_logs', 1, 'failed', 1, $2::bigint * 10000, 10000, 'synthetic', $2::bigint * 10000, '{}',
            now() - interval '2 hours', 'shard 5: synthetic')
    RETURNING id)
  INSERT INTO backfill_shards (run_id, shard_no, from_id, to_id, status, checkpoint_id, estimated_rows, rows_updated,
                               attempts, last_error, last_error_class)
  SELECT r.id, g, g::bigint * 10000 + 1, (g + 1)::bigint * 10000, s.status,
         CASE WHEN s.status IN ('running', 'failed') THEN g::bigint * 10000 + 1 + (g % 40) * 250 END,
         10000, CASE s.status WHEN 'completed' THEN 10000 WHEN 'running' THEN (g % 40) * 250 ELSE 0 END,
         CASE WHEN s.status = 'queued' THEN 0 ELSE 1 END,
         CASE WHEN s.status = 'failed' THEN 'synthetic failure' END,
         CASE WHEN s.status = 'failed' THEN 'BadRowError' END
    FROM r, generate_series(0, $2::int - 1) g,
         LATERAL (SELECT CASE WHEN g % 397 = 5 THEN 'failed' WHEN g % 211 = 7 THEN 'split'
                              WHEN g < 6000 THEN 'completed' WHEN g < 6040 THEN 'running'
                              WHEN g % 500 = 9 THEN 'cancelled' ELSE 'queued' END AS status) s`;

let url: string;
let env: Env;
let ctx: ControlContext;
let app: Awaited<ReturnType<typeof buildDashboard>>;
let readOnlyApp: Awaited<ReturnType<typeof buildDashboard>> | undefined;
let base: string;
let fleet: Fleet | undefined;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];

/** A full-page PNG under artifacts/, without the passing messages (they would cover the page). */
async function screenshot(name: string) {
  await page.evaluate(() => {
    for (const t of document.querySelectorAll('.toast')) t.remove();
  });
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
}

/** The number the page shows in [data-field=…] (thousands separators and all). */
async function shown(field: string): Promise<number> {
  const text = await page.locator(`#main [data-field="${field}"]`).first().textContent();
  return Number((text ?? '').replace(/\D/g, ''));
}

/** Until the page shows `field` as a number for which `ok` holds. */
async function untilShown(field: string, what: string, ok: (n: number) => boolean, timeoutMs = 30_000) {
  return waitFor(
    `the page to show ${field} ${what}`,
    async () => {
      const n = await shown(field);
      return ok(n) ? { n } : null;
    },
    timeoutMs,
  ).then((v) => v.n);
}

/** Clicks an action button, then the dialog's confirm button. */
async function actAndConfirm(button: ReturnType<Page['locator']>) {
  await button.click();
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('#confirm-ok').click();
  await dialog.waitFor({ state: 'hidden' });
}

/**
 * Where shard `shardNo` of the map on the page is (its centre, in CSS pixels from the canvas' corner:
 * squares of data-pitch pixels, data-columns to a row, in the order of GET /api/runs/:name/map), the
 * colour drawn there, and the colour of a failed shard (the page's --st-failed).
 */
function mapCell(run: string, shardNo: number) {
  return page.evaluate(
    async ({ run, shardNo }) => {
      const canvas = document.getElementById('map') as HTMLCanvasElement;
      const { shards } = await (await fetch(`/api/runs/${run}/map`)).json();
      const i = (shards as Array<[number, string, number]>).findIndex((s) => s[0] === shardNo);
      const pitch = Number(canvas.dataset.pitch);
      const cols = Number(canvas.dataset.columns);
      const x = (i % cols) * pitch + pitch / 2;
      const y = Math.floor(i / cols) * pitch + pitch / 2;
      const px = canvas
        .getContext('2d')!
        .getImageData(Math.floor(x * devicePixelRatio), Math.floor(y * devicePixelRatio), 1, 1).data;
      return {
        x,
        y,
        colour: `#${[px[0], px[1], px[2]].map((v) => v!.toString(16).padStart(2, '0')).join('')}`,
        failedColour: getComputedStyle(document.documentElement).getPropertyValue('--st-failed').trim(),
      };
    },
    { run, shardNo },
  );
}

const runButton = (action: string) => page.locator(`#run-actions button[data-action="${action}"]`);
const runButtons = () => page.locator('#run-actions button[data-action]').count();

const shardRow = (shardNo: number) =>
  withClient(url, async (c) => {
    const { rows } = await c.query(
      `SELECT status, rows_updated::int AS rows FROM backfill_shards WHERE shard_no = $1`,
      [shardNo],
    );
    return rows[0] as { status: string; rows: number } | undefined;
  });

const runningShards = () =>
  withClient(url, async (c) =>
    Number((await c.query(`SELECT count(*) AS n FROM backfill_shards WHERE status = 'running'`)).rows[0].n),
  );

beforeAll(async () => {
  // A missing browser is a failure that says what to do, never a silent skip.
  if (!existsSync(CHROMIUM))
    throw new Error(
      `chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`,
    );
  mkdirSync(ARTIFACTS, { recursive: true });
  url = await prepared('dashboard_browser', ROWS);
  await withClient(url, (c) => c.query(`UPDATE run_logs SET data = ${BAD_DATA} WHERE id = $1`, [BAD_ID]));
  env = distributedEnv(url, PREFIX);
  await startRun(env, RUN, ['--shard-rows', '10000', '--batch-size', '400', '--max-rows-per-second', '1600']);
  fleet = startFleet(2, env, WHOLE_SHARD_FLAGS);

  ctx = await openControl({
    databaseUrl: url,
    redisUrl: REDIS_URL,
    prefix: PREFIX,
    logger: createLogger({ level: 'silent' }),
  });
  app = await buildDashboard({ ctx, token: TOKEN, feedIntervalMs: 500 });
  base = await app.listen({ port: 0, host: '127.0.0.1' });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  context.setDefaultTimeout(20_000);
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

afterAll(async () => {
  await browser?.close();
  if (fleet) await stopFleet(fleet);
  await app?.close();
  await readOnlyApp?.close();
  if (ctx) await closeControl(ctx);
  await removeRedisKeys(PREFIX);
});

describe('the dashboard page in a browser, against a live run', { timeout: 120_000 }, () => {
  it('shows the run to an anonymous visitor, whose actions are refused: no usable button, and 401 from the API', async () => {
    await page.goto(`${base}/`);
    await page.locator('#run-title', { hasText: RUN }).waitFor();
    await untilShown('rows-done', 'above 0', (n) => n > 0);
    expect(await page.locator('#banner').isHidden()).toBe(true);

    const pause = runButton('pause');
    await expect(pause.isDisabled()).resolves.toBe(true);
    expect(await pause.getAttribute('title')).toBe('log in to act');
    await expect(page.locator('#run-actions .hint').textContent()).resolves.toBe('log in to act');
    expect(await page.locator('#set-maxRowsPerSecond').isDisabled()).toBe(true);
    // The page offers a login, not the actions.
    await page.locator('#login-form #token').waitFor();

    // Straight at the API, from the page: refused, and nothing changes.
    const status = await page.evaluate(
      async (name) => (await fetch(`/api/runs/${name}/pause`, { method: 'POST' })).status,
      RUN,
    );
    expect(status).toBe(401);
    expect(await runStatusOf(url, RUN)).toBe('running');
    await screenshot('01-anonymous');
  });

  it('shows progress moving: the rows-done number grows', async () => {
    const first = await shown('rows-done');
    const later = await untilShown('rows-done', `above ${first}`, (n) => n > first);
    expect(later).toBeGreaterThan(first);
    expect(await shown('rows-total')).toBe(ROWS);
    // The number shown is the ledger's (at most a snapshot behind).
    expect(later).toBeLessThanOrEqual(await rowsDone(url));
  });

  it('logs in with the token; pause stops the writes (the ledger says paused), resume starts them again', async () => {
    await page.locator('#token').fill(TOKEN);
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#session [data-action="logout"]').waitFor();
    await expect(runButton('pause').isEnabled()).resolves.toBe(true);

    await actAndConfirm(runButton('pause'));
    await waitForRunStatus(url, RUN, 'paused', 20_000);
    await page.locator('#run-title .badge', { hasText: 'paused' }).waitFor();
    // Every worker gives its shard back after the batch in hand; then nothing more is written.
    await waitFor('the workers to give their shards back', async () => (await runningShards()) === 0, 30_000);
    const stopped = await rowsDone(url);
    await untilShown('rows-done', `at ${stopped}`, (n) => n === stopped);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await rowsDone(url)).toBe(stopped);
    expect(await shown('rows-done')).toBe(stopped);
    await page.locator('#run-notice', { hasText: 'paused' }).waitFor();
    await screenshot('02-paused');

    await actAndConfirm(runButton('resume'));
    await waitForRunStatus(url, RUN, 'running', 20_000);
    await untilShown('rows-done', `above ${stopped}`, (n) => n > stopped);
  });

  it('shows the shard a bad row failed as failed: in the failed list, on the map, and in its panel', async () => {
    await waitFor(
      'the bad row to fail its shard',
      async () => (await shardRow(BAD_SHARD))?.status === 'failed',
      60_000,
    );
    await page.locator(`#failed tr[data-shard="${BAD_SHARD}"]`, { hasText: 'BadRowError' }).waitFor();

    // Its square on the map: in the failed colour once the map has been read again; click it.
    const cell = await waitFor(
      'the map to draw the failed shard in the failed colour',
      async () => {
        const c = await mapCell(RUN, BAD_SHARD);
        return c.colour === c.failedColour ? c : null;
      },
      20_000,
    );
    await page.locator('#map').click({ position: { x: cell.x, y: cell.y } });
    const panel = page.locator('#shard-detail');
    await panel.locator('#shard-title', { hasText: `Shard ${BAD_SHARD}` }).waitFor();
    await panel.locator('#shard-title .badge', { hasText: 'failed' }).waitFor();
    await panel.locator('.error-box', { hasText: `row id ${BAD_ID}` }).waitFor();
    await panel.locator('.history', { hasText: 'BadRowError' }).waitFor();
    await expect(panel.locator('button[data-action="retry-shard"]').isEnabled()).resolves.toBe(true);
    await screenshot('03-failed-shard');
  });

  it('changes a setting from the page, and shows the API refusing a bad one at its field', async () => {
    const batch = page.locator('form[data-setting="batchSize"]');
    await batch.locator('input').fill('0');
    await batch.locator('button[type=submit]').click();
    await page.locator('dialog#confirm #confirm-ok').click();
    await page.locator('#err-batchSize', { hasText: 'batchSize' }).waitFor();
    expect(await batch.locator('input').getAttribute('aria-invalid')).toBe('true');

    // The rate cap up: the rest of the run goes faster.
    const rate = page.locator('form[data-setting="maxRowsPerSecond"]');
    await rate.locator('input').fill('6000');
    await rate.locator('button[type=submit]').click();
    await page.locator('dialog#confirm #confirm-ok').click();
    await page.locator('#cur-maxRowsPerSecond', { hasText: '6,000 rows/s' }).waitFor();
    const settings = await withClient(url, (c) =>
      c.query(
        `SELECT settings->>'maxRowsPerSecond' AS cap, settings->>'batchSize' AS batch FROM backfill_runs`,
      ),
    );
    expect(settings.rows[0]).toEqual({ cap: '6000', batch: '400' });
    await page.locator('#events', { hasText: 'maxRowsPerSecond: 1600 → 6000' }).waitFor();
  });

  it('once the row is fixed, the retry button in the shard panel makes it complete, and the run with it', async () => {
    await withClient(url, (c) =>
      c.query(`UPDATE run_logs SET data = '{"fixed": true}'::jsonb WHERE id = $1`, [BAD_ID]),
    );
    const panel = page.locator('#shard-detail');
    await actAndConfirm(panel.locator('button[data-action="retry-shard"]'));
    await waitForRunStatus(url, RUN, 'completed', 60_000);
    expect((await shardRow(BAD_SHARD))?.status).toBe('completed');
    await page.locator('#run-title .badge', { hasText: 'completed' }).waitFor();
    await panel.locator('#shard-title .badge', { hasText: 'completed' }).waitFor();
    expect(await untilShown('rows-done', `at ${ROWS}`, (n) => n === ROWS)).toBe(ROWS);
    expect(await page.locator('#failed tr[data-shard]').count()).toBe(0);
    await screenshot('04-completed');
    expect(pageErrors).toEqual([]);
  });

  it('finalizes the completed run from its page: the ledger and the page say finalized, nothing more is offered', async () => {
    await actAndConfirm(runButton('finalize'));
    await waitForRunStatus(url, RUN, 'finalized', 60_000);
    await page.locator('#run-title .badge', { hasText: 'finalized' }).waitFor();
    await page.locator('#events', { hasText: 'finalized: ' }).waitFor();
    await waitFor('the page to drop the run actions', async () => (await runButtons()) === 0, 10_000);
    await screenshot('07-finalized');
  });

  it('pause-all stops a second run as it writes; cancel from its page then ends it, its open shards cancelled', async () => {
    // Ids taken away from half the table: work for a second run, slow enough to act on.
    await withClient(url, (c) => c.query('UPDATE run_logs SET event_id = NULL WHERE id <= 20000'));
    await startRun(env, SECOND_RUN, [
      '--shard-rows',
      '5000',
      '--batch-size',
      '200',
      '--max-rows-per-second',
      '400',
    ]);
    await page.goto(`${base}/#run=${SECOND_RUN}`);
    await page.locator('#run-title', { hasText: SECOND_RUN }).waitFor();
    await untilShown('rows-done', 'above 0', (n) => n > 0);

    await actAndConfirm(page.locator('#session button[data-action="pause-all"]'));
    await waitForRunStatus(url, SECOND_RUN, 'paused', 20_000);
    await page.locator('#run-title .badge', { hasText: 'paused' }).waitFor();
    // The finalized run is left as it was.
    expect(await runStatusOf(url, RUN)).toBe('finalized');

    await actAndConfirm(runButton('cancel'));
    await waitForRunStatus(url, SECOND_RUN, 'cancelled', 20_000);
    await page.locator('#run-title .badge', { hasText: 'cancelled' }).waitFor();
    const shards = await withClient(url, async (c) => {
      const { rows } = await c.query(
        `SELECT s.status, count(*)::int AS n FROM backfill_shards s JOIN backfill_runs r ON r.id = s.run_id
          WHERE r.name = $1 GROUP BY s.status`,
        [SECOND_RUN],
      );
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    });
    expect(shards.queued ?? 0).toBe(0);
    expect(shards.running ?? 0).toBe(0);
    expect(shards.cancelled).toBeGreaterThan(0);
    await waitFor('the page to drop the run actions', async () => (await runButtons()) === 0, 10_000);
    await screenshot('08-paused-all-then-cancelled');
    expect(pageErrors).toEqual([]);
  });

  it('draws a map of 10,000 shards well within 100 ms, and a click on one square shows that shard', async () => {
    await withClient(url, (c) => c.query(SYNTHETIC_SQL, [SYNTHETIC, SYNTHETIC_SHARDS]));
    await page.goto(`${base}/#run=${SYNTHETIC}`);
    await page.locator('#run-title', { hasText: SYNTHETIC }).waitFor();
    await page.waitForFunction(
      (n) => document.getElementById('map')?.dataset.shards === String(n),
      SYNTHETIC_SHARDS,
    );
    const drawMs = await page.evaluate(
      () => performance.getEntriesByName('backfill:map-draw').at(-1)?.duration ?? Number.NaN,
    );
    console.info(`the map of ${SYNTHETIC_SHARDS} shards drew in ${drawMs.toFixed(1)} ms`);
    expect(drawMs).toBeLessThan(100);

    const target = 9876; // queued
    const cell = await mapCell(SYNTHETIC, target);
    await page.locator('#map').click({ position: { x: cell.x, y: cell.y } });
    const panel = page.locator('#shard-detail');
    await panel.locator('#shard-title', { hasText: `Shard ${target}` }).waitFor();
    await panel.locator('.kv', { hasText: 'ids 98,760,001–98,770,000' }).waitFor();
    // A failed one is drawn in the failed colour.
    const failed = await mapCell(SYNTHETIC, 402);
    expect(failed.colour).toBe(failed.failedColour);
    await screenshot('05-ten-thousand-shards');
  });

  it('without DASHBOARD_TOKEN the page says it is read-only and offers no action', async () => {
    readOnlyApp = await buildDashboard({ ctx, token: null, feedIntervalMs: 500, queueView: false });
    const readOnlyBase = await readOnlyApp.listen({ port: 0, host: '127.0.0.1' });
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
    try {
      const p = await context.newPage();
      await p.goto(`${readOnlyBase}/#run=${RUN}`);
      await p.locator('#run-title', { hasText: RUN }).waitFor();
      await p
        .locator('#banner', {
          hasText: 'read-only: start the dashboard with DASHBOARD_TOKEN to allow actions',
        })
        .waitFor();
      expect(await p.locator('#session .tag').textContent()).toBe('read-only');
      expect(await p.locator('#login-form').count()).toBe(0);
      expect(await p.locator('button[data-action]').count()).toBe(0);
      expect(await p.locator('.setting-edit:visible').count()).toBe(0);
      await p.screenshot({ path: join(ARTIFACTS, 'dashboard-06-read-only.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
