// Worker heartbeats: each worker process upserts its row every poll interval with what it is doing,
// and deletes it when it stops. A row whose heartbeat is older than a few intervals is a worker that
// died (SIGKILL, a lost machine).
import type pg from 'pg';

export interface WorkerRow {
  workerId: string;
  startedAt: string;
  heartbeatAt: string;
  /** Seconds since the last heartbeat, from the database's clock. */
  ageSeconds: number;
  info: Record<string, unknown>;
}

export async function heartbeat(
  client: pg.ClientBase,
  workerId: string,
  startedAt: Date,
  info: Record<string, unknown>,
): Promise<void> {
  await client.query(
    `INSERT INTO backfill_workers (worker_id, started_at, heartbeat_at, info) VALUES ($1, $2, now(), $3)
     ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now(), info = EXCLUDED.info`,
    [workerId, startedAt, JSON.stringify(info)],
  );
}

/** How many workers (this one included, once it has beaten) have beaten within `withinSeconds`. */
export async function countLiveWorkers(client: pg.ClientBase, withinSeconds: number): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM backfill_workers WHERE heartbeat_at > now() - make_interval(secs => $1)',
    [withinSeconds],
  );
  return rows[0]?.n ?? 0;
}

export async function removeWorker(client: pg.ClientBase, workerId: string): Promise<void> {
  await client.query('DELETE FROM backfill_workers WHERE worker_id = $1', [workerId]);
}

/** Workers heard from within `withinSeconds`, newest heartbeat first. */
export async function listWorkers(client: pg.ClientBase, withinSeconds = 3600): Promise<WorkerRow[]> {
  const { rows } = await client.query(
    `SELECT worker_id, info,
            to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
            to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS heartbeat_at,
            extract(epoch FROM now() - heartbeat_at)::float8 AS age
       FROM backfill_workers WHERE heartbeat_at > now() - make_interval(secs => $1)
      ORDER BY heartbeat_at DESC`,
    [withinSeconds],
  );
  return rows.map((r) => ({
    workerId: r.worker_id,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    ageSeconds: Number(r.age),
    info: r.info,
  }));
}
