// What every command gets: the parsed environment and a logger. Built once, at the edge.
import { createLogger, type EnvConfig, type Logger, parseEnv } from '@backfill/engine';

export interface CommandContext {
  env: EnvConfig;
  logger: Logger;
}

export function createContext(): CommandContext {
  const env = parseEnv();
  return { env, logger: createLogger({ level: env.LOG_LEVEL, service: 'backfill-cli' }) };
}
