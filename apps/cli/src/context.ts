// What every command gets: the parsed environment and a logger. Built once, at the edge.
import { type EnvConfig, parseEnv } from '@backfill/engine/config';
import { createLogger, type Logger } from '@backfill/engine/logger';

export interface CommandContext {
  env: EnvConfig;
  logger: Logger;
}

export function createContext(): CommandContext {
  const env = parseEnv();
  return { env, logger: createLogger({ level: env.LOG_LEVEL, service: 'backfill-cli' }) };
}
