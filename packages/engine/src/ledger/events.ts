// Run events (settings changes with old and new values, pauses, resumes, holds) and the notification
// every worker listens for: a run's status or settings changed, read the ledger again now rather than at
// the next poll (a pause reaches every running shard within a batch).
import type pg from 'pg';

/** The channel of LISTEN/NOTIFY: the payload is the run id. */
export const CONTROL_CHANNEL = 'backfill_control';

export interface RunEvent {
  id: number;
  runId: number;
  kind: string;
  message: string;
  details: Record<string, unknown> | null;
  /** ISO 8601. */
  at: string;
}

export async function recordRunEvent(
  client: pg.ClientBase,
  runId: number,
  kind: string,
  message: string,
  details: Record<string, unknown> | null = null,
): Promise<void> {
  await client.query(
    'INSERT INTO backfill_run_events (run_id, kind, message, details) VALUES ($1, $2, $3, $4)',
    [runId, kind, message, details === null ? null : JSON.stringify(details)],
  );
}

/** The last `limit` events of a run, newest first. */
export async function listRunEvents(client: pg.ClientBase, runId: number, limit = 20): Promise<RunEvent[]> {
  const { rows } = await client.query(
    `SELECT id, run_id, kind, message, details,
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
       FROM backfill_run_events WHERE run_id = $1 ORDER BY id DESC LIMIT $2`,
    [runId, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    runId: Number(r.run_id),
    kind: r.kind,
    message: r.message,
    details: r.details,
    at: r.at,
  }));
}

/** Tells every listening worker that run `runId` changed (delivered when the transaction commits). */
export async function notifyControl(client: pg.ClientBase, runId: number): Promise<void> {
  await client.query('SELECT pg_notify($1, $2)', [CONTROL_CHANNEL, String(runId)]);
}
