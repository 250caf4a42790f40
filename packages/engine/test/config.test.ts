import { DEFAULT_DATABASE_URL, parseEnv, redactUrl } from '@backfill/engine/config';
import { UsageError } from '@backfill/engine/errors';
import { describe, expect, it } from 'vitest';

describe('parseEnv', () => {
  it('applies the defaults that match docker-compose.yml', () => {
    const env = parseEnv({});
    expect(env.DATABASE_URL).toBe(DEFAULT_DATABASE_URL);
    expect(env.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(env.LOG_LEVEL).toBe('info');
  });

  it('names the variable and the accepted values on bad input', () => {
    expect(() => parseEnv({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => parseEnv({ LOG_LEVEL: 'loud' })).toThrow(UsageError);
    expect(() => parseEnv({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL.*accepted: fatal, error/);
    expect(() => parseEnv({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
  });

  it('redacts passwords', () => {
    expect(redactUrl('postgres://u:secret@h:5432/d')).toBe('postgres://u:***@h:5432/d');
  });
});
