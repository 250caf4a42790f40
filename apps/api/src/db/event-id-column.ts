// Whether run_logs has its event_id column yet. The API is deployed before, during and after
// `backfill migrate` (and `migrate --down`): it looks at start, again every --schema-recheck, and at once
// when a statement fails because the column is not (or no longer) there. Changes are logged.
import { PgCode, pgCodeOf, SchemaError } from '@backfill/engine/errors';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';

const COLUMN_SQL = `SELECT to_regclass($1) IS NOT NULL AS table_exists,
       EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = to_regclass($1) AND attname = 'event_id' AND attnum > 0 AND NOT attisdropped
              ) AS present`;

/** A statement failed because `event_id` does not exist (42703 naming it). */
export function isMissingEventIdColumn(err: unknown): boolean {
  return pgCodeOf(err) === PgCode.undefinedColumn && /event_id/.test((err as Error)?.message ?? '');
}

export class EventIdColumnWatch {
  private known: boolean | undefined;
  private inFlight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    /** The table, quoted and qualified (`"public"."run_logs"`). */
    private readonly table: string,
    private readonly logger: Logger,
    private readonly recheckMs: number,
  ) {}

  /** The column as last seen (false until `start` has looked). */
  get present(): boolean {
    return this.known === true;
  }

  /** Looks once (throws SchemaError when the table does not exist), then every recheckMs. */
  async start(): Promise<boolean> {
    const present = await this.check('start');
    this.timer = setInterval(() => {
      this.check('periodic').catch((err) =>
        this.logger.warn({ err }, 'could not look for the event_id column (will try again)'),
      );
    }, this.recheckMs);
    this.timer.unref();
    return present;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Looks now (one look at a time: callers arriving meanwhile share it). */
  check(reason: string): Promise<boolean> {
    this.inFlight ??= this.look(reason).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async look(reason: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ table_exists: boolean; present: boolean }>(COLUMN_SQL, [
      this.table,
    ]);
    const { table_exists, present } = rows[0]!;
    if (!table_exists) {
      throw new SchemaError(
        `table ${this.table} does not exist: point DATABASE_URL at the application's database, or run \`backfill migrate\``,
      );
    }
    if (present !== this.known) {
      const msg = present
        ? 'event_id column present: new rows get their event_id'
        : 'no event_id column (before `backfill migrate`, or after `migrate --down`): new rows are written without it';
      if (this.known === undefined) this.logger.info({ eventIdColumn: present, reason }, msg);
      else this.logger.warn({ eventIdColumn: present, reason }, msg);
      this.known = present;
    }
    return present;
  }
}
