// Telling every API process's streams that rows were inserted: NOTIFY on one channel, after the insert
// has committed, in a transaction of its own that does not wait for the WAL flush (a NOTIFY holds a
// database-wide lock while its transaction commits). Coalesced: one NOTIFY in flight at a time, and
// one more after it for whatever was inserted meanwhile, so a burst of POSTs costs one or two. A lost
// notification costs latency, not rows: the streams also poll (--poll-interval).
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';

/** The channel the streams LISTEN on (no payload: a listener looks at the table). */
export const RUN_LOGS_CHANNEL = 'backfill_run_logs';

const NOTIFY_SQL = `BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY ${RUN_LOGS_CHANNEL}; COMMIT`;

export class RunLogsNotifier {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  /** Rows were committed: notify (soon, coalesced). */
  notify(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.send().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no NOTIFY is in flight. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async send(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.pool.query(NOTIFY_SQL);
      } catch (err) {
        this.logger.debug({ err }, 'NOTIFY failed (streams poll meanwhile)');
      }
    } while (this.again);
  }
}
