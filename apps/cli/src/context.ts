// What every command gets: the parsed environment and a logger. Built once, at the edge.
import { type EnvConfig, parseEnv, withQueueBackendFlag } from '@backfill/engine/config';
import { createLogger, type Logger } from '@backfill/engine/logger';

export interface CommandContext {
  env: EnvConfig;
  logger: Logger;
}

/** Program-level flags every command honours (set by the program's preAction hook). */
const globalFlags: { queueBackend?: unknown } = {};
export function setGlobalFlags(flags: { queueBackend?: unknown }): void {
  Object.assign(globalFlags, flags);
}

export function createContext(): CommandContext {
  const env = withQueueBackendFlag(parseEnv(), globalFlags.queueBackend);
  return { env, logger: createLogger({ level: env.LOG_LEVEL, service: 'backfill-cli' }) };
}
