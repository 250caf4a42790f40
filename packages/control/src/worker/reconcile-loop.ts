// Workers reconcile the ledger and the queues every so often, one worker at a time across the fleet:
// whoever takes the advisory lock first does the pass, the others skip it. The lock is a session lock
// on one pooled connection, held for the pass only.
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';
import { RATE_HISTORY_SECONDS } from '../queue/names.js';
import type { QueueTransport } from '../queue/transport.js';
import { reconcileAll } from '../reconcile.js';

/** pg_try_advisory_lock key for the reconcile pass ("reco"). */
export const RECONCILE_LOCK_KEY = 0x7265_636f;

export async function reconcileOnce(
  pool: pg.Pool,
  transport: QueueTransport,
  logger: Logger,
): Promise<'done' | 'busy'> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      RECONCILE_LOCK_KEY,
    ]);
    if (!rows[0]?.ok) return 'busy';
    try {
      await reconcileAll({ db: client, transport, logger });
      await transport.prune(RATE_HISTORY_SECONDS + 60);
      return 'done';
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [RECONCILE_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
