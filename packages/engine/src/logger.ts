// pino JSON logs on stderr (stdout is reserved for command output). One root logger per process;
// callers derive child loggers carrying run/shard/job ids.
import { type Logger, pino } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  service?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service ?? 'backfill', pid: process.pid },
      redact: ['*.password', '*.connectionString'],
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
