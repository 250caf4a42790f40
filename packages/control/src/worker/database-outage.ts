// A worker that cannot reach PostgreSQL stops taking shards (it could not claim, checkpoint or finish
// any) until a probe answers again; meanwhile its shards go back to the queue for workers that can.
import { sleep } from '@backfill/engine/db';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';

export class DatabaseOutage {
  private down = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    /** Called with true when the outage begins, false when PostgreSQL answers again. */
    private readonly onChange: (down: boolean) => void,
    private readonly probeEveryMs = 2000,
  ) {}

  isDown(): boolean {
    return this.down;
  }

  /** A shard could not reach PostgreSQL: begin an outage (once) and probe until it ends. */
  report(err: Error): void {
    if (this.down || this.stopped) return;
    this.down = true;
    this.log.error(
      { err: err.message },
      'PostgreSQL unreachable: not taking shards until it answers (probing every few seconds)',
    );
    this.onChange(true);
    void this.probe();
  }

  stop(): void {
    this.stopped = true;
  }

  private async probe(): Promise<void> {
    const began = Date.now();
    while (!this.stopped) {
      await sleep(this.probeEveryMs);
      try {
        await this.pool.query('SELECT 1');
      } catch {
        continue;
      }
      if (this.stopped) return;
      this.down = false;
      this.log.info({ outageMs: Date.now() - began }, 'PostgreSQL answers again: taking shards');
      this.onChange(false);
      return;
    }
  }
}
