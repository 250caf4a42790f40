// Database time as the database spends it: CPU seconds of the PostgreSQL backends serving a database,
// read from /proc (the bench runs PostgreSQL on this machine). Unlike statement latency seen by a
// client, it does not grow when the client competes with PostgreSQL for the same cores.
import { readFileSync } from 'node:fs';
import pg from 'pg';

const TICKS = 100; // getconf CLK_TCK on Linux

function cpuSeconds(pid) {
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
