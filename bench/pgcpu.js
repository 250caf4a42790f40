// Database time as the database spends it: CPU seconds of the PostgreSQL backends serving a database,
// read from /proc (the bench runs PostgreSQL on this machine). Unlike statement latency seen by a
// client, it does not grow when the client competes with PostgreSQL for the same cores.
import { readFileSync } from 'node:fs';
import pg from 'pg';

const TICKS = 100; // getconf CLK_TCK on Linux

/** CPU seconds (user + system) of process `pid` so far, or null once it has exited. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
  } catch {
    return null; // the backend has exited
  }
}

/** Samples every backend of `datname` until stop(); returns their CPU seconds (the last sample each). */
export async function startDbCpuSampler(adminUrl, datname, everyMs = 200) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const self = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
  const seen = new Map();
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await c.query(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> $2`,
        [datname, self],
      );
      for (const { pid } of rows) {
        const s = cpuSeconds(pid);
        if (s !== null) seen.set(pid, s);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await c.end();
      return [...seen.values()].reduce((a, b) => a + b, 0);
    },
  };
}

const BACKGROUND = ['checkpointer', 'background writer', 'walwriter', 'autovacuum worker'];

/**
 * CPU seconds PostgreSQL's own processes spend meanwhile (checkpointer, background writer, WAL writer,
 * and autovacuum workers on `datname`), by kind: the cost of a backfill that no client backend shows.
 * Long-lived processes count from the first sample, so only the time inside the window is theirs.
 */
export async function startBackgroundCpuSampler(adminUrl, datname, everyMs = 200) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const first = new Map();
  const last = new Map();
  const kinds = new Map();
  let running = true;
  const sample = async () => {
    const { rows } = await c.query(
      `SELECT pid, backend_type FROM pg_stat_activity
        WHERE backend_type = ANY($1) AND (backend_type <> 'autovacuum worker' OR datname = $2)`,
      [BACKGROUND, datname],
    );
    for (const { pid, backend_type } of rows) {
      const s = cpuSeconds(pid);
      if (s === null) continue;
      // An autovacuum worker starts inside the window: all of its time is the window's.
      if (!first.has(pid)) first.set(pid, backend_type === 'autovacuum worker' ? 0 : s);
      last.set(pid, s);
      kinds.set(pid, backend_type);
    }
  };
  await sample();
  const loop = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, everyMs));
      await sample();
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await c.end();
      const byKind = {};
      for (const [pid, kind] of kinds) byKind[kind] = (byKind[kind] ?? 0) + last.get(pid) - first.get(pid);
      return byKind;
    },
  };
}

/** pg_stat_bgwriter now (cluster-wide: checkpoints, and buffers written by backends to evict). */
export async function bgwriterStats(adminUrl) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rows } = await c.query(
      `SELECT checkpoints_timed + checkpoints_req AS checkpoints, checkpoints_req, buffers_checkpoint,
              buffers_clean, buffers_backend, buffers_alloc FROM pg_stat_bgwriter`,
    );
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
  } finally {
    await c.end();
  }
}
