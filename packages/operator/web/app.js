// The dashboard page: one plain ES module, no framework and no build step. What it shows comes from the
// live feed (EventSource /api/stream: a snapshot of every run about once a second); the selected run's
// shard map is read every few seconds (less often the more shards it has) and drawn on a canvas. Every
// action is a POST with a JSON body and the session's CSRF header, confirmed in a dialog first; the
// API's errors ({error: {kind, message, field}}) are shown as they come.

// ---------------------------------------------------------------------------------------------------
// Tables: what each state offers and how it looks, written once.

/** Shard states, in the order of the legend (the ledger's SHARD_STATUSES). */
const SHARD_STATES = ['queued', 'running', 'completed', 'failed', 'split', 'cancelled'];

/** The run actions each run status offers; the server refuses any other (409), and says why. */
const RUN_ACTIONS = {
  running: ['pause', 'finalize', 'cancel'],
  paused: ['resume', 'cancel'],
  completed: ['finalize'],
  failed: ['finalize', 'cancel'],
  cancelled: [],
  finalized: [],
};
/** Runs workers may still work on (their map is read again every few seconds). */
const ACTIVE_RUNS = ['running', 'paused'];
/** Shard states a "retry this shard" makes sense for. */
const RETRYABLE_SHARDS = ['failed', 'queued'];

/** What each action asks before it acts, and what it sends. `r` is a run name, `n` a shard number. */
const ACTIONS = {
  pause: {
    label: 'Pause',
    ask: (r) => ({
      title: `Pause run ${r}?`,
      text: 'Workers finish the batch in hand and give their shards back. Nothing is lost: resume goes on from every checkpoint.',
      ok: 'Pause run',
    }),
    send: (r) => [`/api/runs/${enc(r)}/pause`, {}],
    done: (r) => `run ${r} paused`,
  },
  resume: {
    label: 'Resume',
    ask: (r) => ({ title: `Resume run ${r}?`, text: 'Workers take its shards again.', ok: 'Resume run' }),
    send: (r) => [`/api/runs/${enc(r)}/resume`, {}],
    done: (r) => `run ${r} resumed`,
  },
  cancel: {
    label: 'Cancel…',
    danger: true,
    ask: (r) => ({
      title: `Cancel run ${r}?`,
      text: 'Its unfinished shards are cancelled and its jobs removed. Rows already written keep their event_id. This cannot be undone.',
      ok: 'Cancel run',
      danger: true,
    }),
    send: (r) => [`/api/runs/${enc(r)}/cancel`, {}],
    done: (r) => `run ${r} cancelled`,
  },
  finalize: {
    label: 'Finalize',
    ask: (r) => ({
      title: `Finalize run ${r}?`,
      text: 'Works whatever is left inline, verifies a sample of 10,000 rows and builds the index if it was deferred. It can take a while: its result appears under Recent events.',
      ok: 'Finalize run',
    }),
    send: (r) => [`/api/runs/${enc(r)}/finalize`, {}],
    done: (r) => `run ${r} is finalizing (see Recent events)`,
  },
  'retry-failed': {
    label: 'Retry failed shards',
    ask: (r, _n, report) => ({
      title: `Retry the failed shards of run ${r}?`,
      text: `${fmtInt(report?.progress.shards.failed ?? 0)} failed shard(s) go back to the queue and resume from their checkpoints.`,
      ok: 'Retry failed shards',
    }),
    send: (r) => [`/api/runs/${enc(r)}/retry`, { failed: true }],
    done: (r, _n, res) => `run ${r}: ${fmtInt(res?.retried ?? 0)} shard(s) queued again`,
  },
  'retry-shard': {
    label: 'Retry this shard',
    ask: (r, n) => ({
      title: `Retry shard ${n} of run ${r}?`,
      text: 'It goes back to the queue and resumes from its checkpoint. Fix what failed it first (its last error is shown).',
      ok: `Retry shard ${n}`,
    }),
    send: (r, n) => [`/api/runs/${enc(r)}/retry`, { shardNo: n }],
    done: (r, n) => `run ${r}: shard ${n} queued again`,
  },
  'pause-all': {
    label: 'Pause all',
    ask: () => ({
      title: 'Pause every running run?',
      text: 'Every worker finishes the batch in hand and gives its shards back.',
      ok: 'Pause all runs',
    }),
    send: () => ['/api/pause-all', {}],
    done: (_r, _n, res) => `paused: ${res?.paused?.length ? res.paused.join(', ') : 'no run was running'}`,
  },
};

/** The settings the page changes in place (POST /api/runs/:name/settings), with how they are shown. */
const EDITABLE_SETTINGS = {
  maxRowsPerSecond: {
    label: 'Rate cap',
    unit: 'rows/s',
    hint: '0 = unlimited; shared by every worker of the run',
    show: (v) => (v === 0 ? 'unlimited' : `${fmtInt(v)} rows/s`),
  },
  batchSize: {
    label: 'Batch size',
    unit: 'rows',
    hint: 'rows per UPDATE (where adaptive sizing starts)',
    show: (v) => `${fmtInt(v)} rows`,
  },
};

const MAP_MAX_HEIGHT = 480;
const MAP_MAX_PITCH = 34;
/** The map of an active run is read again after this long, plus 1 ms per shard (capped). */
const MAP_EVERY_MS = 3000;
const MAP_EVERY_MAX_MS = 15_000;
/** No snapshot for this long: the page says the numbers are stale. */
const STALE_AFTER_MS = 6000;

// ---------------------------------------------------------------------------------------------------
// Formatting.

const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const pctFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '–';
  return intFormat.format(Math.round(Number(n)));
}
/** An id (a bigint as a decimal string) with thousands separators. */
function fmtId(s) {
  if (s === null || s === undefined) return '–';
  try {
    return BigInt(s).toLocaleString();
  } catch {
    return String(s);
  }
}
const fmtPct = (p) => `${pctFormat.format(p)} %`;
const pad2 = (n) => String(n).padStart(2, '0');

function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad2(s % 60)} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${pad2(Math.floor((s % 3600) / 60))} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date(now()).toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}
const sinceSeconds = (iso) => (now() - Date.parse(iso)) / 1000;
/** A <time> with the absolute time as its tooltip. */
const timeTag = (iso, text) =>
  iso
    ? `<time datetime="${esc(iso)}" title="${esc(new Date(iso).toLocaleString())}">${esc(text)}</time>`
    : '–';

function esc(v) {
  return String(v ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
const enc = encodeURIComponent;
const badge = (status) => `<span class="badge st-${esc(status)}">${esc(status)}</span>`;
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------------
// State.

const state = {
  session: { readOnly: false, authenticated: false, csrf: null, known: false },
  /** RunStatusReport[] of the latest snapshot. */
  runs: [],
  workers: [],
  /** The snapshot's time (the server's clock: "since" and "ago" are measured from it). */
  at: Date.now(),
  receivedAt: 0,
  selected: null,
  /** Actions in flight (their buttons are disabled meanwhile). */
  busy: new Set(),
  map: { run: null, shards: [], byNo: new Map(), pitch: 10, cols: 1, hover: -1, cursor: -1, fetchedAt: 0 },
  /** The shard shown in the detail panel: { run, shardNo, data }. */
  shard: null,
};

/** "Now" on the server's clock: the snapshot's time plus what passed here since it came. */
const now = () => state.at + (state.receivedAt ? Date.now() - state.receivedAt : 0);
const selectedReport = () => state.runs.find((r) => r.run.name === state.selected) ?? null;
const canAct = () => !state.session.readOnly && state.session.authenticated;

// ---------------------------------------------------------------------------------------------------
// The API.

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.kind = body?.kind ?? 'http';
    this.field = body?.field;
  }
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    if (state.session.csrf) init.headers['x-csrf-token'] = state.session.csrf;
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, {
      kind: 'unavailable',
      message: `the dashboard cannot be reached (${err.message})`,
    });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data?.error ?? { message: `${res.status} ${res.statusText}` });
  return data;
}

async function loadSession() {
  try {
    const s = await api('GET', '/api/session');
    state.session = {
      readOnly: s.readOnly,
      authenticated: s.authenticated,
      csrf: s.csrf ?? null,
      known: true,
    };
  } catch (err) {
    toast(err);
  }
}

// ---------------------------------------------------------------------------------------------------
// Messages.

function toast(message, kind = 'error') {
  const text = message instanceof ApiError ? `${message.kind}: ${message.message}` : String(message);
  const el = document.createElement('div');
  el.className = `toast toast-${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.innerHTML = `<span>${esc(text)}</span><button type="button" class="link" aria-label="Dismiss">×</button>`;
  el.querySelector('button').addEventListener('click', () => el.remove());
  $('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 15_000 : 6000);
}

/** Asks in an in-page dialog; resolves true when confirmed. */
function confirmAction({ title, text, ok, danger }) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  const okButton = $('confirm-ok');
  okButton.textContent = ok;
  okButton.classList.toggle('danger', Boolean(danger));
  dialog.returnValue = '';
  dialog.showModal();
  // A destructive action starts on Cancel: Enter alone must not cancel a run.
  (danger ? dialog.querySelector('button[value=cancel]') : okButton).focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

// ---------------------------------------------------------------------------------------------------
// Rendering: each region is replaced only when its HTML changes (a button under the pointer survives
// the snapshots that do not touch it).

const lastHtml = new WeakMap();
function put(id, html) {
  const el = $(id);
  if (!el) return;
  if (lastHtml.get(el) === html) return;
  lastHtml.set(el, html);
  el.innerHTML = html;
}
function render() {
  renderSession();
  renderRunList();
  renderMain();
}

function renderSession() {
  const s = state.session;
  let html = '';
  if (!s.known) html = '';
  else if (s.readOnly) html = '<span class="tag">read-only</span>';
  else if (s.authenticated)
    html = `<span class="who">logged in</span>
      ${actionButton('pause-all', {})}
      <button type="button" data-action="logout">Log out</button>`;
  else
    html = `<form id="login-form" class="login">
        <label for="token">Dashboard token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required size="18">
        <button type="submit" class="primary">Log in</button>
      </form>
      <span id="login-error" class="field-error" role="alert"></span>`;
  put('session', html);
  const banner = $('banner');
  banner.hidden = !s.readOnly;
  banner.textContent = 'read-only: start the dashboard with DASHBOARD_TOKEN to allow actions';
}

/** A button for an action: absent when read-only, disabled ("log in to act") when not logged in. */
function actionButton(action, { run, shard, extraClass = '' }) {
  if (state.session.readOnly) return '';
  const a = ACTIONS[action];
  const key = `${action}:${run ?? ''}:${shard ?? ''}`;
  const attrs = [
    `data-action="${action}"`,
    run !== undefined ? `data-run="${esc(run)}"` : '',
    shard !== undefined ? `data-shard="${shard}"` : '',
  ].join(' ');
  const cls = `${a.danger ? 'danger' : ''} ${extraClass}`.trim();
  const disabled = !canAct() ? ' disabled title="log in to act"' : state.busy.has(key) ? ' disabled' : '';
  const label = action === 'retry-shard' && extraClass === 'small' ? 'Retry' : a.label;
  return `<button type="button" ${attrs}${cls ? ` class="${cls}"` : ''}${disabled}>${esc(label)}</button>`;
}
const loginHint = () =>
  !state.session.readOnly && !state.session.authenticated ? '<span class="hint">log in to act</span>' : '';

function sortedRuns() {
  const rank = (r) => (ACTIVE_RUNS.includes(r.run.status) ? 0 : r.run.status === 'failed' ? 1 : 2);
  return [...state.runs].sort(
    (a, b) => rank(a) - rank(b) || Date.parse(b.run.createdAt) - Date.parse(a.run.createdAt),
  );
}

function renderRunList() {
  const items = sortedRuns().map((r) => {
    const current = r.run.name === state.selected;
    return `<li><a class="run-item${current ? ' current' : ''}" href="#run=${enc(r.run.name)}"${current ? ' aria-current="true"' : ''}>
      <span class="run-item-head"><span class="run-name">${esc(r.run.name)}</span>${badge(r.run.status)}</span>
      <span class="mini-bar" aria-hidden="true"><span style="width:${r.percent.toFixed(2)}%"></span></span>
      <span class="run-item-sub">${fmtPct(r.percent)} · ${fmtInt(r.rowsPerSecondLastMinute)} rows/s · ${esc(etaShort(r))}</span>
    </a></li>`;
  });
  put('run-list', items.length ? items.join('') : '<li class="empty">No runs yet.</li>');
  const alive = state.workers.filter((w) => w.ageSeconds <= 15);
  const noDb = alive.filter((w) => w.info?.databaseReachable === false).length;
  put(
    'fleet',
    `Fleet: <b>${fmtInt(alive.length)}</b> worker${alive.length === 1 ? '' : 's'} alive` +
      (noDb ? ` · <span class="warn">${fmtInt(noDb)} cannot reach PostgreSQL</span>` : ''),
  );
}

function etaShort(r) {
  const s = r.run.status;
  if (s === 'completed' || s === 'finalized') return 'done';
  if (s === 'cancelled') return 'cancelled';
  if (s === 'failed') return 'failed shards';
  if (s === 'paused') return 'paused';
  if (r.etaSeconds === null) return 'ETA –';
  return `${r.holds.length ? 'held · ' : ''}ETA ${fmtDuration(r.etaSeconds)}`;
}

/** The ETA tile: the time, and what it assumes. */
function etaTile(r) {
  const s = r.run.status;
  if (s === 'completed' || s === 'finalized')
    return ['done', r.run.finishedAt ? `finished ${fmtTime(r.run.finishedAt)}` : ''];
  if (s === 'cancelled') return ['–', 'cancelled'];
  const left = r.etaSeconds === null ? null : fmtDuration(r.etaSeconds);
  if (s === 'failed') return ['stopped', 'failed shards: retry them to go on'];
  if (s === 'paused') return ['paused', left ? `${left} of work left at the last rate` : 'resume to go on'];
  if (left === null) return ['–', 'no rate measured yet'];
  if (r.holds.length) {
    const h = holdGroups(r.holds)[0];
    return [left, `once writing again · held by ${h.gate}: ${h.reason}`];
  }
  // The rate the server's ETA assumes: the last minute's, or (none yet) while writing, or overall.
  const rate = r.rowsPerSecondLastMinute || r.rowsPerSecondWhileWriting || r.rowsPerSecondOverall;
  return [
    left,
    `at ${fmtInt(rate)} rows/s · about ${fmtTime(new Date(now() + r.etaSeconds * 1000).toISOString())}`,
  ];
}

// ---------------------------------------------------------------------------------------------------
// The selected run.

function renderMain() {
  const main = $('main');
  if (!state.runs.length) {
    main.dataset.run = '';
    destroyChart();
    main.innerHTML = `<div class="empty-state"><h2>No runs yet</h2>
      <p>Start one with <code>backfill start --name NAME --commit</code> and a few <code>backfill worker</code> processes; it appears here at once.</p></div>`;
    return;
  }
  if (!state.selected) selectRun(sortedRuns()[0].run.name, { replace: true });
  const r = selectedReport();
  if (!r) {
    // A run named in the address that the ledger does not have (yet): say so, and keep waiting for it.
    main.dataset.run = '';
    destroyChart();
    main.innerHTML = `<div class="empty-state"><h2>No run named “${esc(state.selected)}”</h2>
      <p>It is not in the ledger (yet). Pick a run on the left; this page shows it as soon as it appears.</p></div>`;
    return;
  }
  if (main.dataset.run !== r.run.name) buildRunSkeleton(main, r.run.name);
  fillRun(r);
}

function buildRunSkeleton(main, name) {
  destroyChart();
  main.dataset.run = name;
  const settingForms = Object.entries(EDITABLE_SETTINGS)
    .map(
      ([key, s]) => `<form class="setting-form" data-setting="${key}" novalidate>
        <label for="set-${key}">${esc(s.label)}</label>
        <output id="cur-${key}" class="current" for="set-${key}"></output>
        <span class="setting-edit" id="edit-${key}">
          <input id="set-${key}" name="value" type="number" inputmode="numeric" min="0" step="1" placeholder="${esc(s.unit)}" aria-describedby="hint-${key} err-${key}">
          <button type="submit">Set</button>
        </span>
        <small id="hint-${key}" class="hint">${esc(s.hint)}</small>
        <span id="err-${key}" class="field-error" role="alert"></span>
      </form>`,
    )
    .join('');
  main.innerHTML = `
    <section class="run" aria-labelledby="run-title">
      <div class="run-head">
        <div>
          <h2 id="run-title"></h2>
          <p class="meta" id="run-meta"></p>
        </div>
        <div class="actions" id="run-actions" aria-label="Run actions"></div>
      </div>
      <div id="run-notice" class="notice" role="status" hidden></div>

      <div class="progress-block">
        <div id="run-bar" class="bar" role="progressbar" aria-label="Rows done" aria-valuemin="0" aria-valuemax="100">
          <span class="bar-fill"></span>
        </div>
        <p class="progress-numbers" id="run-numbers"></p>
      </div>

      <div class="tiles" id="run-tiles"></div>

      <div class="cols">
        <section class="card chart-card" aria-labelledby="chart-title">
          <h3 id="chart-title">Rows per second, last 15 minutes <small>(10 s means)</small></h3>
          <div id="chart" class="chart"></div>
        </section>
        <section class="card" aria-labelledby="shards-title">
          <h3 id="shards-title">Shards</h3>
          <ul class="state-counts" id="shard-counts"></ul>
          <p class="small" id="queue-line"></p>
        </section>
      </div>

      <section class="card" aria-labelledby="map-title">
        <h3 id="map-title">Shard map <small id="map-count"></small></h3>
        <ul class="legend" aria-label="Legend">
          ${SHARD_STATES.map((s) => `<li><span class="sw st-${s}"></span>${s}</li>`).join('')}
          <li><span class="sw st-running-part"></span>running: the dark part is done</li>
        </ul>
        <div class="map-layout">
          <div>
            <div class="map-wrap" id="map-wrap">
              <canvas id="map" tabindex="0" role="img" aria-label="Shard map: each square is a shard, coloured by state. Arrow keys move, Enter shows the shard."></canvas>
              <div id="map-tip" class="map-tip" hidden></div>
            </div>
            <form id="goto-shard" class="goto">
              <label for="goto-no">Show shard</label>
              <input id="goto-no" name="shardNo" type="number" min="0" step="1" inputmode="numeric">
              <button type="submit">Show</button>
              <span id="map-status" class="small"></span>
            </form>
          </div>
          <aside id="shard-detail" class="shard-detail" aria-live="polite">
            <p class="muted">Click a shard (or pick one with the arrow keys and Enter) to see its range, checkpoint, attempts, owner, last error and history.</p>
          </aside>
        </div>
      </section>

      <div class="cols">
        <section class="card" aria-labelledby="settings-title">
          <h3 id="settings-title">Throttle and batches</h3>
          <div id="settings-forms">${settingForms}</div>
          <p class="small" id="batch-line"></p>
          <details>
            <summary>Every setting of this run</summary>
            <dl class="settings-list" id="settings-list"></dl>
          </details>
        </section>
        <section class="card" aria-labelledby="gates-title">
          <h3 id="gates-title">Gates holding it</h3>
          <div id="gates"></div>
        </section>
      </div>

      <section class="card" aria-labelledby="workers-title">
        <h3 id="workers-title">Workers</h3>
        <div id="workers"></div>
      </section>

      <section class="card" aria-labelledby="failed-title" id="failed-card">
        <h3 id="failed-title">Failed shards</h3>
        <div id="failed"></div>
      </section>

      <div class="cols">
        <section class="card" aria-labelledby="events-title">
          <h3 id="events-title">Recent events</h3>
          <div id="events"></div>
        </section>
        <section class="card" aria-labelledby="errors-title">
          <h3 id="errors-title">Recent errors</h3>
          <div id="errors"></div>
        </section>
      </div>
    </section>`;
  state.map = {
    run: name,
    shards: [],
    byNo: new Map(),
    pitch: 10,
    cols: 1,
    hover: -1,
    cursor: -1,
    fetchedAt: 0,
  };
  state.shard = null;
  createChart();
  wireMap();
  void refreshMap();
}

function fillRun(r) {
  const run = r.run;
  const p = r.progress;
  document.title = `backfill · ${run.name} ${fmtPct(r.percent)} · ${run.status}`;
  put('run-title', `${esc(run.name)} ${badge(run.status)}`);
  const shardsTotal = Object.values(p.shards).reduce((a, b) => a + b, 0);
  put(
    'run-meta',
    [
      `table <code>${esc(run.tableSchema)}.${esc(run.tableName)}</code>`,
      `ids ${fmtId(run.fromId)}–${fmtId(run.toId)} (${esc(run.order)})`,
      `${fmtInt(shardsTotal)} shards of ~${fmtInt(run.shardRows)} rows`,
      `created ${timeTag(run.createdAt, fmtTime(run.createdAt))}`,
      run.startedAt ? `started ${timeTag(run.startedAt, fmtTime(run.startedAt))}` : '',
      run.finishedAt ? `finished ${timeTag(run.finishedAt, fmtTime(run.finishedAt))}` : '',
    ]
      .filter(Boolean)
      .join(' · '),
  );

  const acts = [...(RUN_ACTIONS[run.status] ?? [])];
  if (p.shards.failed > 0 && !['cancelled', 'finalized'].includes(run.status)) acts.unshift('retry-failed');
  put(
    'run-actions',
    acts.map((a) => actionButton(a, { run: run.name })).join('') + (acts.length ? loginHint() : ''),
  );

  // The notice: a hold (why, for how long), a pause, a failure.
  let notice = '';
  let tone = '';
  if (r.holds.length) {
    const h = holdGroups(r.holds)[0];
    const others = r.holds.length > 1 ? ` · ${r.holds.length} shards held` : ` · shard ${h.shardNo}`;
    const until = h.until ? ` · opens ${timeTag(h.until, fmtTime(h.until))}` : '';
    notice = `<strong>held by ${esc(h.gate)}: ${esc(h.reason)}</strong> · held for ${timeTag(h.since, fmtDuration(sinceSeconds(h.since)))}${until}${others}`;
    tone = 'held';
  } else if (run.status === 'paused') {
    notice = '<strong>paused</strong>: no worker writes for this run until it is resumed.';
    tone = 'paused';
  } else if (run.status === 'failed') {
    notice = `<strong>failed</strong>: ${esc(run.lastError ?? 'a shard failed')}. Fix the cause, then retry the failed shards.`;
    tone = 'failed';
  } else if (run.status === 'running' && r.queuePaused) {
    notice = 'the queue is paused';
    tone = 'paused';
  }
  put('run-notice', notice);
  const noticeEl = $('run-notice');
  noticeEl.hidden = !notice;
  noticeEl.dataset.tone = tone;

  const bar = $('run-bar');
  bar.setAttribute('aria-valuenow', r.percent.toFixed(1));
  bar.setAttribute('aria-valuetext', `${fmtPct(r.percent)} of the rows`);
  bar.dataset.status = run.status;
  bar.firstElementChild.style.width = `${r.percent.toFixed(2)}%`;
  const total = Math.max(p.estimatedRows, p.rowsUpdated);
  put(
    'run-numbers',
    `<span class="big" data-field="rows-done">${fmtInt(p.rowsUpdated)}</span> of
     <span data-field="rows-total">${fmtInt(total)}</span> rows (estimated) ·
     <span data-field="percent">${fmtPct(r.percent)}</span>` +
      (p.rowsSkipped ? ` · <span class="warn">${fmtInt(p.rowsSkipped)} bad rows skipped</span>` : ''),
  );

  const [eta, etaSub] = etaTile(r);
  const end = run.finishedAt ? Date.parse(run.finishedAt) : now();
  const elapsed = run.startedAt ? fmtDuration((end - Date.parse(run.startedAt)) / 1000) : '–';
  put(
    'run-tiles',
    [
      tile('rows/s, last minute', fmtInt(r.rowsPerSecondLastMinute), 'rate-minute'),
      tile(
        'rows/s, last 15 minutes',
        fmtInt(r.rowsPerSecondLast15Minutes),
        'rate-15m',
        `while writing ${fmtInt(r.rowsPerSecondWhileWriting)}`,
      ),
      tile('ETA', eta, 'eta', etaSub),
      tile('elapsed', elapsed, 'elapsed', `overall ${fmtInt(r.rowsPerSecondOverall)} rows/s`),
    ].join(''),
  );

  updateChart(r);

  put(
    'shard-counts',
    SHARD_STATES.map(
      (s) =>
        `<li data-state="${s}"><span class="sw st-${s}"></span>${s} <b>${fmtInt(p.shards[s] ?? 0)}</b></li>`,
    ).join(''),
  );
  const q = r.queue ?? {};
  put(
    'queue-line',
    `Queue${r.queuePaused ? ' (paused)' : ''}: ` +
      ['waiting', 'prioritized', 'active', 'delayed', 'failed']
        .filter((k) => k in q)
        .map((k) => `${fmtInt(q[k])} ${k}`)
        .join(' · ') +
      ` · <a href="/queues">raw jobs</a>`,
  );

  fillSettings(r);
  fillGates(r);
  fillWorkers(r);
  fillFailed(r);
  fillEvents(r);
  maybeRefreshMap(r);
  $('map-count').textContent = `(${fmtInt(shardsTotal)} shards)`;
}

const tile = (label, value, field, sub = '') =>
  `<div class="tile"><div class="tile-label">${esc(label)}</div><div class="tile-value" data-field="${field}">${esc(value)}</div>${sub ? `<div class="tile-sub">${esc(sub)}</div>` : ''}</div>`;

function fillSettings(r) {
  const st = r.run.settings;
  for (const [key, s] of Object.entries(EDITABLE_SETTINGS)) {
    put(`cur-${key}`, esc(s.show(st[key])));
    const edit = $(`edit-${key}`);
    edit.hidden = state.session.readOnly || ['cancelled', 'finalized'].includes(r.run.status);
    for (const el of edit.querySelectorAll('input, button')) el.disabled = !canAct();
    edit.title = canAct() ? '' : 'log in to act';
  }
  const inUse = [...new Set(r.progress.active.map((a) => a.batchSize).filter((b) => b !== null))];
  put(
    'batch-line',
    (st.targetBatchMs > 0
      ? `Adaptive: each batch aims at ${fmtInt(st.targetBatchMs)} ms, between ${fmtInt(st.minBatchSize)} and ${fmtInt(st.maxBatchSize)} rows.`
      : 'Fixed batch size (targetBatchMs 0).') +
      (inUse.length ? ` In use now: ${inUse.map(fmtInt).join(', ')} rows.` : ''),
  );
  put(
    'settings-list',
    Object.entries(st)
      .map(
        ([k, v]) =>
          `<dt>${esc(k)}</dt><dd>${esc(v === null ? 'off' : typeof v === 'number' ? fmtInt(v) : v)}</dd>`,
      )
      .join(''),
  );
}

/** Holds of the same gate and reason, together: which shards, and since when (the earliest). */
function holdGroups(holds) {
  const groups = new Map();
  for (const h of holds) {
    const key = [h.gate, h.reason, h.value, h.threshold, h.until ?? ''].join('\u0000');
    const g = groups.get(key) ?? { ...h, shards: [], workers: new Set() };
    g.shards.push(h.shardNo);
    g.workers.add(h.workerId);
    if (Date.parse(h.since) < Date.parse(g.since)) g.since = h.since;
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => Date.parse(a.since) - Date.parse(b.since));
}

function fillGates(r) {
  if (!r.holds.length) {
    put('gates', '<p class="muted">No gate holds this run now.</p>');
    return;
  }
  put(
    'gates',
    `<table><thead><tr><th>Gate</th><th>Value / threshold</th><th>Since</th><th>Shards</th></tr></thead><tbody>${holdGroups(
      r.holds,
    )
      .map(
        (
          g,
        ) => `<tr><td><b>${esc(g.gate)}</b><br><small>${esc(g.reason)}${g.until ? ` · opens ${timeTag(g.until, fmtTime(g.until))}` : ''}</small></td>
        <td>${esc(g.value)} / ${esc(g.threshold)}</td>
        <td>${timeTag(g.since, fmtTime(g.since))}<br><small>for ${esc(fmtDuration(sinceSeconds(g.since)))}</small></td>
        <td>${g.shards
          .sort((a, b) => a - b)
          .map((n) => `<button type="button" class="link" data-show-shard="${n}">${n}</button>`)
          .join(
            ', ',
          )}<br><small>${fmtInt(g.workers.size)} worker${g.workers.size === 1 ? '' : 's'}</small></td></tr>`,
      )
      .join('')}</tbody></table>`,
  );
}

function fillWorkers(r) {
  const ws = r.progress.workers;
  if (!ws.length) {
    put(
      'workers',
      '<p class="muted">No worker serves this run now (workers serve running and paused runs).</p>',
    );
    return;
  }
  const active = new Map(r.progress.active.map((a) => [a.shardNo, a]));
  put(
    'workers',
    `<table><thead><tr><th>Worker</th><th>Host · pid</th><th>Heartbeat</th><th>Doing</th></tr></thead><tbody>${ws
      .map((w) => {
        const doing = w.shards.length
          ? `<ul class="plain">${w.shards
              .map((s) => {
                const a = active.get(s.shardNo);
                const hold = s.held
                  ? ` · <span class="held">held by ${esc(s.held.gate)}: ${esc(s.held.reason)} for ${esc(fmtDuration(sinceSeconds(s.held.since)))}</span>`
                  : '';
                return `<li>shard <button type="button" class="link" data-show-shard="${s.shardNo}">${s.shardNo}</button> · batch ${fmtInt(s.batchSize)} · ${fmtInt(s.rowsUpdated)} rows${a?.checkpointId ? ` · at id ${fmtId(a.checkpointId)}` : ''}${hold}</li>`;
              })
              .join('')}</ul>`
          : '<span class="muted">idle</span>';
        const health = !w.alive
          ? ' <span class="badge st-failed">gone</span>'
          : !w.databaseReachable
            ? ' <span class="badge st-failed">PostgreSQL unreachable</span>'
            : '';
        return `<tr><td><code>${esc(w.workerId)}</code>${health}</td><td>${esc(w.host ?? '–')} · ${esc(w.pid ?? '–')}</td>
          <td>${timeTag(w.heartbeatAt, `${fmtDuration(w.ageSeconds)} ago`)}</td><td>${doing}</td></tr>`;
      })
      .join('')}</tbody></table>`,
  );
}

/** Failed shards listed by name (the rest are on the map, and "Retry failed shards" takes them all). */
const FAILED_LISTED = 10;

function fillFailed(r) {
  const f = r.progress.failed.slice(0, FAILED_LISTED);
  const more = r.progress.shards.failed - f.length;
  $('failed-card').dataset.count = String(r.progress.shards.failed);
  if (!f.length) {
    put('failed', '<p class="muted">No failed shard.</p>');
    return;
  }
  put(
    'failed',
    `<table class="failed"><thead><tr><th>Shard</th><th>Attempts</th><th>Error</th><th><span class="sr-only">Action</span></th></tr></thead><tbody>${f
      .map(
        (
          s,
        ) => `<tr data-shard="${s.shardNo}"><td><button type="button" class="link" data-show-shard="${s.shardNo}">${s.shardNo}</button></td>
        <td class="num">${fmtInt(s.attempts)}</td>
        <td><b>${esc(s.lastErrorClass ?? 'error')}</b> <span class="err-text">${esc(s.lastError ?? '')}</span></td>
        <td>${actionButton('retry-shard', { run: r.run.name, shard: s.shardNo, extraClass: 'small' })}</td></tr>`,
      )
      .join(
        '',
      )}</tbody></table>${more > 0 ? `<p class="small">and ${fmtInt(more)} more (see the map)</p>` : ''}`,
  );
}

function fillEvents(r) {
  const ev = r.progress.events;
  put(
    'events',
    ev.length
      ? `<ol class="events">${ev
          .map(
            (e) =>
              `<li><span class="ev-time">${timeTag(e.at, fmtTime(e.at))}</span> <span class="kind">${esc(e.kind)}</span> <span>${esc(e.message)}</span></li>`,
          )
          .join('')}</ol>`
      : '<p class="muted">No event yet (settings changes, pauses, holds and finalize appear here).</p>',
  );
  const errs = r.progress.lastErrors;
  put(
    'errors',
    errs.length
      ? `<ol class="events">${errs
          .map(
            (e) =>
              `<li><span class="ev-time">${timeTag(e.at, fmtTime(e.at))}</span> shard <button type="button" class="link" data-show-shard="${e.shardNo}">${e.shardNo}</button> → ${esc(e.toStatus)} <b>${esc(e.errorClass ?? '')}</b> <span class="err-text">${esc(e.message ?? '')}</span>${e.worker ? ` <small>(${esc(e.worker)})</small>` : ''}</li>`,
          )
          .join('')}</ol>`
      : '<p class="muted">No error.</p>',
  );
}

// ---------------------------------------------------------------------------------------------------
// The rate chart (uPlot, vendored).

let chart = null;
let chartObserver = null;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function createChart() {
  const el = $('chart');
  if (typeof uPlot === 'undefined') {
    el.textContent = 'The chart library did not load.';
    return;
  }
  const width = () => Math.max(240, el.clientWidth);
  const number = (_u, v) => (v === null || v === undefined ? '–' : fmtInt(v));
  chart = new uPlot(
    {
      width: width(),
      height: 180,
      // Room on the right for the last time label.
      padding: [8, 28, 0, 0],
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 10] } },
      series: [
        { value: (_u, v) => (v === null || v === undefined ? '–' : new Date(v * 1000).toLocaleTimeString()) },
        {
          label: 'rows/s',
          stroke: cssVar('--accent'),
          fill: cssVar('--accent-soft'),
          width: 2,
          points: { show: false },
          value: number,
        },
        {
          label: 'rate cap',
          stroke: cssVar('--st-failed'),
          dash: [6, 4],
          width: 1.5,
          points: { show: false },
          value: number,
        },
      ],
      axes: [
        {
          stroke: cssVar('--muted'),
          grid: { stroke: cssVar('--grid') },
          ticks: { stroke: cssVar('--grid') },
          space: 70,
          // Clock times only (the chart spans 15 minutes at most): seconds when the ticks are closer than a minute.
          values: (_u, ticks) => {
            const withSeconds = ticks.length > 1 && ticks[1] - ticks[0] < 60;
            const f = {
              hour: '2-digit',
              minute: '2-digit',
              hourCycle: 'h23',
              ...(withSeconds && { second: '2-digit' }),
            };
            return ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], f));
          },
        },
        {
          stroke: cssVar('--muted'),
          grid: { stroke: cssVar('--grid') },
          ticks: { stroke: cssVar('--grid') },
          size: 56,
          values: (_u, ticks) => ticks.map((t) => compactFormat.format(t)),
        },
      ],
    },
    [[], [], []],
    el,
  );
  chartObserver = new ResizeObserver(() => chart?.setSize({ width: width(), height: 180 }));
  chartObserver.observe(el);
}

function destroyChart() {
  chartObserver?.disconnect();
  chartObserver = null;
  chart?.destroy();
  chart = null;
}

function updateChart(r) {
  if (!chart) return;
  const n = r.rateHistory.length;
  const end = Math.floor(state.at / 1000);
  // The 10 s buckets, the newest ending now; those before the run started are left out.
  const started = r.run.startedAt ? Date.parse(r.run.startedAt) / 1000 - 10 : 0;
  const xs = [];
  const ys = [];
  for (let i = 0; i < n; i++) {
    const x = end - (n - 1 - i) * 10;
    if (x < started) continue;
    xs.push(x);
    ys.push(r.rateHistory[i] / 10);
  }
  const cap = r.run.settings.maxRowsPerSecond;
  chart.setData([xs, ys, xs.map(() => (cap > 0 ? cap : null))]);
}

// ---------------------------------------------------------------------------------------------------
// The shard map: a canvas, one square per shard in ledger order, row by row (the canvas carries its
// layout in data-pitch and data-columns). One listener for the pointer, one for keys.

let mapTimer;
let mapBusy = false;

function mapDelay() {
  return Math.min(MAP_EVERY_MAX_MS, MAP_EVERY_MS + state.map.shards.length);
}

/** Reads the map now when the shard counts changed (at most once a second); else on its timer. */
let lastCounts = '';
function maybeRefreshMap(r) {
  const counts = `${r.run.name}:${r.run.status}:${JSON.stringify(r.progress.shards)}`;
  if (counts === lastCounts) return;
  lastCounts = counts;
  if (Date.now() - state.map.fetchedAt > 1000) void refreshMap();
}

async function refreshMap() {
  const name = state.selected;
  if (!name || mapBusy) return;
  mapBusy = true;
  clearTimeout(mapTimer);
  try {
    const { shards } = await api('GET', `/api/runs/${enc(name)}/map`);
    if (name !== state.selected || !$('map')) return;
    const m = state.map;
    m.shards = shards;
    m.byNo = new Map(shards.map((s, i) => [s[0], i]));
    m.fetchedAt = Date.now();
    layoutMap();
    drawMap();
    $('map-status').textContent = '';
    if (state.shard?.run === name) void loadShard(state.shard.shardNo, { quiet: true });
  } catch (err) {
    const status = $('map-status');
    if (status) status.textContent = `map: ${err.message}`;
  } finally {
    mapBusy = false;
    scheduleMap(name);
  }
}

/** The next read: at once if another run was selected meanwhile; on the timer while the run is active. */
function scheduleMap(fetched) {
  clearTimeout(mapTimer);
  if (state.selected !== fetched) {
    void refreshMap();
    return;
  }
  const r = selectedReport();
  if (!r || !ACTIVE_RUNS.includes(r.run.status)) return;
  const tick = () => {
    if (document.hidden) mapTimer = setTimeout(tick, mapDelay());
    else void refreshMap();
  };
  mapTimer = setTimeout(tick, mapDelay());
}

function layoutMap() {
  const canvas = $('map');
  const wrap = $('map-wrap');
  const m = state.map;
  const n = Math.max(1, m.shards.length);
  const width = Math.max(200, wrap.clientWidth);
  let pitch = MAP_MAX_PITCH;
  while (pitch > 2 && Math.ceil(n / Math.floor(width / pitch)) * pitch > MAP_MAX_HEIGHT) pitch--;
  m.pitch = pitch;
  m.cols = Math.max(1, Math.floor(width / pitch));
  const rows = Math.ceil(n / m.cols);
  const cssW = Math.min(n, m.cols) * pitch;
  const cssH = rows * pitch;
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = `${cssW}px`;
  canvas.style.height = `${cssH}px`;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  canvas.dataset.pitch = String(pitch);
  canvas.dataset.columns = String(m.cols);
  canvas.dataset.shards = String(m.shards.length);
}

const colours = {};
function stateColour(s) {
  colours[s] ??= cssVar(`--st-${s}`) || '#888';
  return colours[s];
}

function drawMap() {
  const canvas = $('map');
  if (!canvas) return;
  const started = performance.now();
  const m = state.map;
  const g = canvas.getContext('2d');
  const dpr = window.devicePixelRatio || 1;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, canvas.width, canvas.height);
  const p = m.pitch;
  const gap = p >= 10 ? 2 : p >= 4 ? 1 : 0;
  const size = p - gap;
  // One path and one fill per colour (not a fillStyle per square): 10,000 squares stay cheap. A running
  // square's light part is added before its dark part, so its colour is filled first.
  const byColour = new Map();
  const add = (colour, x, y, w) => {
    if (!byColour.has(colour)) byColour.set(colour, new Path2D());
    byColour.get(colour).rect(x, y, w, size);
  };
  for (let i = 0; i < m.shards.length; i++) {
    const [, status, done] = m.shards[i];
    const x = (i % m.cols) * p;
    const y = Math.floor(i / m.cols) * p;
    if (status === 'running') {
      add(stateColour('running-part'), x, y, size);
      add(stateColour('running'), x, y, Math.max(1, size * done));
    } else add(stateColour(status), x, y, size);
  }
  for (const [colour, path] of byColour) {
    g.fillStyle = colour;
    g.fill(path);
  }
  const outline = (i, colour, w) => {
    if (i < 0 || i >= m.shards.length) return;
    g.strokeStyle = colour;
    g.lineWidth = w;
    g.strokeRect(
      (i % m.cols) * p + w / 2 - 0.5,
      Math.floor(i / m.cols) * p + w / 2 - 0.5,
      size - w + 1,
      size - w + 1,
    );
  };
  const selected = state.shard ? (m.byNo.get(state.shard.shardNo) ?? -1) : -1;
  outline(m.hover, cssVar('--muted'), 1);
  outline(m.cursor, cssVar('--text'), 1);
  outline(selected, cssVar('--text'), Math.min(3, Math.max(1, Math.floor(p / 6))));
  // The last draw's duration, for whoever profiles the page (only the last one is kept).
  performance.clearMeasures('backfill:map-draw');
  performance.measure('backfill:map-draw', { start: started });
}

function cellAt(ev) {
  const m = state.map;
  const rect = $('map').getBoundingClientRect();
  const col = Math.floor((ev.clientX - rect.left) / m.pitch);
  const row = Math.floor((ev.clientY - rect.top) / m.pitch);
  if (col < 0 || col >= m.cols || row < 0) return -1;
  const i = row * m.cols + col;
  return i < m.shards.length ? i : -1;
}

function wireMap() {
  const canvas = $('map');
  const tip = $('map-tip');
  let frame = 0;
  canvas.addEventListener('mousemove', (ev) => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const i = cellAt(ev);
      const m = state.map;
      if (i !== m.hover) {
        m.hover = i;
        drawMap();
      }
      if (i < 0) {
        tip.hidden = true;
        canvas.style.cursor = '';
        return;
      }
      const [no, status, done] = m.shards[i];
      tip.textContent = `shard ${no} · ${status}${status === 'running' || status === 'failed' || status === 'queued' ? ` · ${fmtPct(done * 100)}` : ''}`;
      const wrapRect = $('map-wrap').getBoundingClientRect();
      tip.style.left = `${ev.clientX - wrapRect.left + 12}px`;
      tip.style.top = `${ev.clientY - wrapRect.top + 12}px`;
      tip.hidden = false;
      canvas.style.cursor = 'pointer';
    });
  });
  canvas.addEventListener('mouseleave', () => {
    tip.hidden = true;
    state.map.hover = -1;
    drawMap();
  });
  canvas.addEventListener('click', (ev) => {
    const i = cellAt(ev);
    if (i < 0) return;
    state.map.cursor = i;
    void loadShard(state.map.shards[i][0]);
  });
  canvas.addEventListener('keydown', (ev) => {
    const m = state.map;
    if (!m.shards.length) return;
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -m.cols, ArrowDown: m.cols }[ev.key];
    if (step !== undefined) {
      ev.preventDefault();
      m.cursor = m.cursor < 0 ? 0 : Math.min(m.shards.length - 1, Math.max(0, m.cursor + step));
      const [no, status] = m.shards[m.cursor];
      canvas.setAttribute('aria-label', `Shard map: shard ${no}, ${status}. Enter shows it.`);
      drawMap();
    } else if ((ev.key === 'Enter' || ev.key === ' ') && m.cursor >= 0) {
      ev.preventDefault();
      void loadShard(m.shards[m.cursor][0]);
    }
  });
  let resizeTimer;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (!$('map')) return;
      layoutMap();
      drawMap();
    }, 100);
  }).observe($('map-wrap'));
}

// ---------------------------------------------------------------------------------------------------
// One shard: the detail panel.

async function loadShard(shardNo, { quiet = false } = {}) {
  const name = state.selected;
  if (!quiet) {
    state.shard = { run: name, shardNo, data: null };
    drawMap();
    put('shard-detail', `<p class="muted">Loading shard ${shardNo}…</p>`);
  }
  try {
    const data = await api('GET', `/api/runs/${enc(name)}/shards/${shardNo}`);
    if (state.selected !== name || state.shard?.shardNo !== shardNo) return;
    state.shard = { run: name, shardNo, data };
    renderShard();
  } catch (err) {
    if (!quiet) put('shard-detail', `<p class="field-error">${esc(err.kind)}: ${esc(err.message)}</p>`);
  }
}

function renderShard() {
  const s = state.shard?.data;
  if (!s) return;
  const r = selectedReport();
  const span = BigInt(s.toId) - BigInt(s.fromId) + 1n;
  const done =
    s.status === 'completed'
      ? 1
      : s.checkpointId === null
        ? 0
        : Number(((BigInt(s.checkpointId) - BigInt(s.fromId) + 1n) * 1000n) / span) / 1000;
  const retry = RETRYABLE_SHARDS.includes(s.status)
    ? `<p class="shard-actions">${actionButton('retry-shard', { run: state.shard.run, shard: s.shardNo })} ${loginHint()}</p>`
    : '';
  const row = (k, v) => `<dt>${esc(k)}</dt><dd>${v}</dd>`;
  // bull-board shows a run's queue until the finished run's queue is removed from Redis.
  const job =
    r?.run.queue && !r.run.queueClearedAt
      ? `<a href="/queues/queue/${enc(r.run.queue)}/${enc(`run-${r.run.id}-shard-${s.shardNo}`)}">its job in /queues</a>`
      : '';
  put(
    'shard-detail',
    `<div class="shard-head"><h4 id="shard-title">Shard ${s.shardNo} ${badge(s.status)}</h4>
       <button type="button" class="link" data-action="close-shard" aria-label="Close the shard panel">×</button></div>
     ${s.lastError ? `<div class="error-box" role="note"><b>${esc(s.lastErrorClass ?? 'error')}</b> ${esc(s.lastError)}</div>` : ''}
     ${retry}
     <dl class="kv">
       ${row('range', `ids ${fmtId(s.fromId)}–${fmtId(s.toId)}`)}
       ${row('checkpoint', s.checkpointId === null ? 'none yet' : `id ${fmtId(s.checkpointId)} (${fmtPct(done * 100)} of the range)`)}
       ${row('rows', `${fmtInt(s.rowsUpdated)} updated · ${fmtInt(s.rowsSkipped)} skipped · ~${fmtInt(s.estimatedRows)} estimated`)}
       ${row('batches', `${fmtInt(s.batches)}${s.batchSize ? ` · last of ${fmtInt(s.batchSize)} rows` : ''}`)}
       ${row('attempts', `${fmtInt(s.attempts)} · claim ${fmtInt(s.epoch)}`)}
       ${row('owner', s.worker ? `<code>${esc(s.worker)}</code>` : '–')}
       ${s.parentShardNo !== null ? row('split from', `shard <button type="button" class="link" data-show-shard="${s.parentShardNo}">${s.parentShardNo}</button>`) : ''}
       ${row('started', timeTag(s.startedAt, fmtTime(s.startedAt)))}
       ${row('finished', timeTag(s.finishedAt, fmtTime(s.finishedAt)))}
       ${row('updated', timeTag(s.updatedAt, fmtTime(s.updatedAt)))}
     </dl>
     <p class="small">${job}</p>
     <h5>History <small>(newest first)</small></h5>
     ${
       s.events.length
         ? `<ol class="events history">${s.events
             .map(
               (e) =>
                 `<li><span class="ev-time">${timeTag(e.at, fmtTime(e.at))}</span> ${esc(e.from ?? '–')} → <b>${esc(e.to)}</b>${e.worker ? ` <small>${esc(e.worker)}</small>` : ''}${e.errorClass ? ` <b class="warn">${esc(e.errorClass)}</b>` : ''}${e.message ? ` <span class="err-text">${esc(e.message)}</span>` : ''}</li>`,
             )
             .join('')}</ol>`
         : '<p class="muted">No transition yet.</p>'
     }`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Actions.

async function act(action, run, shard) {
  const a = ACTIONS[action];
  if (!canAct()) {
    toast('log in to act');
    return;
  }
  const report = state.runs.find((r) => r.run.name === run);
  if (!(await confirmAction(a.ask(run, shard, report)))) return;
  const key = `${action}:${run ?? ''}:${shard ?? ''}`;
  state.busy.add(key);
  render();
  try {
    const [path, body] = a.send(run, shard);
    const res = await api('POST', path, body);
    toast(a.done(run, shard, res), 'ok');
    await afterAction(run);
  } catch (err) {
    onActionError(err);
  } finally {
    state.busy.delete(key);
    render();
    if (state.shard) renderShard();
  }
}

function onActionError(err) {
  if (err instanceof ApiError && err.status === 401) {
    state.session.authenticated = false;
    state.session.csrf = null;
    toast(new ApiError(401, { kind: err.kind, message: `${err.message} (the session ended: log in again)` }));
    render();
    return;
  }
  toast(err);
}

/** The run as it is now (not the feed's last second), and its map. */
async function afterAction(run) {
  if (run) {
    try {
      const fresh = await api('GET', `/api/runs/${enc(run)}`);
      const i = state.runs.findIndex((r) => r.run.name === run);
      if (i >= 0) state.runs[i] = fresh;
    } catch {
      // the next snapshot brings it
    }
  }
  render();
  void refreshMap();
}

async function changeSetting(form) {
  const key = form.dataset.setting;
  const s = EDITABLE_SETTINGS[key];
  const r = selectedReport();
  const input = form.elements.value;
  const err = $(`err-${key}`);
  err.textContent = '';
  input.removeAttribute('aria-invalid');
  const raw = input.value.trim();
  if (!/^\d+$/.test(raw)) {
    err.textContent = 'a whole number, 0 or more';
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  const value = Number(raw);
  const from = r.run.settings[key];
  const ok = await confirmAction({
    title: `Change the ${s.label.toLowerCase()} of run ${r.run.name}?`,
    text: `${s.label}: ${s.show(from)} → ${s.show(value)}. Every worker of the run picks it up within a poll; the change is recorded as a run event.`,
    ok: `Set ${s.label.toLowerCase()}`,
  });
  if (!ok) return;
  try {
    const res = await api('POST', `/api/runs/${enc(r.run.name)}/settings`, { [key]: value });
    const changes = res.changes?.length
      ? res.changes.map((c) => `${c.key}: ${c.from} → ${c.to}`).join(', ')
      : 'nothing changed';
    toast(`run ${r.run.name}: ${changes}`, 'ok');
    input.value = '';
    await afterAction(r.run.name);
  } catch (e) {
    // A refused value is shown at its field (the API names it); anything else as a message.
    if (e instanceof ApiError && e.status === 400) {
      err.textContent = e.message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } else onActionError(e);
  }
}

async function login(form) {
  const token = form.elements.token.value;
  const errEl = $('login-error');
  errEl.textContent = '';
  try {
    const res = await api('POST', '/api/login', { token });
    state.session = { ...state.session, authenticated: res.authenticated, csrf: res.csrf };
    toast('logged in', 'ok');
    render();
    if (state.shard) renderShard();
  } catch (err) {
    errEl.textContent = err.status === 401 ? 'wrong token' : err.message;
    form.elements.token.select();
  }
}

async function logout() {
  try {
    await api('POST', '/api/logout', {});
  } catch (err) {
    toast(err);
  }
  state.session = { ...state.session, authenticated: false, csrf: null };
  render();
  if (state.shard) renderShard();
}

document.addEventListener('click', (ev) => {
  const target = ev.target instanceof Element ? ev.target : null;
  const show = target?.closest('[data-show-shard]');
  if (show) {
    const no = Number(show.dataset.showShard);
    state.map.cursor = state.map.byNo.get(no) ?? -1;
    void loadShard(no);
    $('shard-detail')?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    return;
  }
  const b = target?.closest('button[data-action]');
  if (!b || b.disabled) return;
  const action = b.dataset.action;
  if (action === 'logout') void logout();
  else if (action === 'close-shard') {
    state.shard = null;
    lastHtml.delete($('shard-detail'));
    $('shard-detail').innerHTML = '<p class="muted">Click a shard to see it.</p>';
    drawMap();
  } else if (ACTIONS[action])
    void act(action, b.dataset.run, b.dataset.shard === undefined ? undefined : Number(b.dataset.shard));
});

document.addEventListener('input', (ev) => {
  const form = ev.target instanceof Element ? ev.target.closest('form[data-setting]') : null;
  if (!form) return;
  $(`err-${form.dataset.setting}`).textContent = '';
  form.elements.value.removeAttribute('aria-invalid');
});

document.addEventListener('submit', (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement) || form.method === 'dialog') return;
  ev.preventDefault();
  if (form.id === 'login-form') void login(form);
  else if (form.dataset.setting) void changeSetting(form);
  else if (form.id === 'goto-shard') {
    const no = Number(form.elements.shardNo.value);
    if (Number.isInteger(no) && no >= 0) {
      state.map.cursor = state.map.byNo.get(no) ?? -1;
      void loadShard(no);
    }
  }
});

// ---------------------------------------------------------------------------------------------------
// Selection (in the address: #run=NAME) and the live feed.

function selectRun(name, { replace = false } = {}) {
  state.selected = name;
  const hash = `#run=${enc(name)}`;
  if (location.hash !== hash) {
    if (replace) history.replaceState(null, '', hash);
    else location.hash = hash;
  }
}

function runFromHash() {
  const m = /^#run=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

window.addEventListener('hashchange', () => {
  const name = runFromHash();
  if (name && name !== state.selected) {
    state.selected = name;
    lastCounts = '';
    render();
  }
});

function onSnapshot(s) {
  state.runs = s.runs ?? [];
  if (s.workers) state.workers = s.workers;
  state.at = Date.parse(s.at);
  state.receivedAt = Date.now();
  setLive('live');
  render();
}

function setLive(what) {
  const el = $('live');
  el.dataset.state = what;
  el.textContent =
    what === 'live'
      ? `live · ${new Date(state.at).toLocaleTimeString()}`
      : what === 'stale'
        ? `stale: no update for ${fmtDuration((Date.now() - state.receivedAt) / 1000)}`
        : what;
}

function connect() {
  const es = new EventSource('/api/stream');
  es.addEventListener('snapshot', (e) => {
    try {
      onSnapshot(JSON.parse(e.data));
    } catch (err) {
      toast(`a live update could not be read: ${err.message}`);
    }
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      setLive('disconnected: retrying');
      setTimeout(connect, 5000);
    } else setLive('reconnecting…');
  });
}

setInterval(() => {
  if (state.receivedAt && Date.now() - state.receivedAt > STALE_AFTER_MS) setLive('stale');
}, 2000);

async function start() {
  state.selected = runFromHash();
  await loadSession();
  try {
    onSnapshot(await api('GET', '/api/runs'));
  } catch (err) {
    toast(err);
  }
  render();
  connect();
}

void start();
