// Which database faults a batch retries and how long it waits between tries: pure functions, checked on
// errors shaped the way pg, drizzle and Node hand them over.
import { isConnectionLost, isSchemaFault, isTimeout, isTransient } from '@backfill/engine/backfill';
import { backoffDelay } from '@backfill/engine/migrate';
import { describe, expect, it } from 'vitest';

/** A server error as pg raises it: an Error with a SQLSTATE `code`. */
const pgError = (code: string, message = `pg error ${code}`) => Object.assign(new Error(message), { code });
/** An error wrapping another (drizzle, or our own errors with `{ cause }`). */
const wrapped = (cause: unknown) => new Error('wrapped', { cause });
/** A socket-level failure as Node reports it. */
const sysError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });

describe('isTimeout', () => {
  it('is lock_timeout (55P03) or statement_timeout / cancel (57014), also when wrapped', () => {
    for (const code of ['55P03', '57014']) {
      expect(isTimeout(pgError(code)), code).toBe(true);
      expect(isTimeout(wrapped(pgError(code))), `wrapped ${code}`).toBe(true);
    }
  });

  it('is nothing else', () => {
    for (const code of ['40P01', '40001', '57P01', '08006', '23505', '55P02', '57015']) {
      expect(isTimeout(pgError(code)), code).toBe(false);
    }
    expect(isTimeout(new Error('lock timeout'))).toBe(false);
    expect(isTimeout(undefined)).toBe(false);
  });
});

describe('isTransient', () => {
  it('is a deadlock (40P01) or a serialization failure (40001), also when wrapped', () => {
    for (const code of ['40P01', '40001']) {
      expect(isTransient(pgError(code)), code).toBe(true);
      expect(isTransient(wrapped(pgError(code))), `wrapped ${code}`).toBe(true);
    }
  });

  it('is nothing else', () => {
    for (const code of ['40002', '40003', '55P03', '57014', '57P01', '08006']) {
      expect(isTransient(pgError(code)), code).toBe(false);
    }
    expect(isTransient(new Error('deadlock detected'))).toBe(false);
    expect(isTransient(null)).toBe(false);
  });
});

describe('isConnectionLost', () => {
  it('is a terminated backend, a shutdown, a server not ready yet, or any connection exception (08…)', () => {
    for (const code of ['57P01', '57P02', '57P03', '08000', '08003', '08006', '08P01']) {
      expect(isConnectionLost(pgError(code)), code).toBe(true);
      expect(isConnectionLost(wrapped(pgError(code))), `wrapped ${code}`).toBe(true);
    }
  });

  it('is a socket that cannot connect or was reset', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EHOSTUNREACH',
      'EAI_AGAIN',
    ]) {
      expect(isConnectionLost(sysError(code)), code).toBe(true);
    }
    // What `net` gives for a host with an IPv4 and an IPv6 address, both refusing.
    expect(isConnectionLost(new AggregateError([sysError('ECONNREFUSED'), sysError('ECONNREFUSED')]))).toBe(
      true,
    );
  });

  it("is pg's own messages for a connection that went away (they carry no code)", () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated',
      'connection terminated due to connection timeout',
      'Client has encountered a connection error and is not queryable',
      'Client was closed and is not queryable',
      'Query read timeout',
      'timeout exceeded when trying to connect',
    ]) {
      expect(isConnectionLost(new Error(message)), message).toBe(true);
    }
  });

  it('is not a timeout, a deadlock, a data error or any other failure', () => {
    for (const code of ['55P03', '57014', '40P01', '40001', '23505', '42P01', '57P04', '58030']) {
      expect(isConnectionLost(pgError(code)), code).toBe(false);
    }
    expect(isConnectionLost(pgError('42601', 'syntax error at or near "Connection"'))).toBe(false);
    expect(isConnectionLost(sysError('EACCES'))).toBe(false);
    expect(isConnectionLost(new Error('terminated'))).toBe(false);
    expect(isConnectionLost(new Error('queryable'))).toBe(false);
    expect(isConnectionLost(undefined)).toBe(false);
    expect(isConnectionLost({})).toBe(false);
  });
});

describe('isSchemaFault', () => {
  it('is a column or table gone, or a column of another type than the statements expect', () => {
    for (const code of ['42703', '42P01', '42804', '42883', '42P18']) {
      expect(isSchemaFault(pgError(code)), code).toBe(true);
      expect(isSchemaFault(wrapped(pgError(code))), `wrapped ${code}`).toBe(true);
    }
  });

  it('is not a timeout, a lost connection, bad data or a syntax error', () => {
    for (const code of ['55P03', '57014', '57P01', '08006', '40P01', '23505', '22P02', '42601', '42P02']) {
      expect(isSchemaFault(pgError(code)), code).toBe(false);
    }
    expect(isSchemaFault(new Error('column "event_id" does not exist'))).toBe(false);
    expect(isSchemaFault(undefined)).toBe(false);
  });
});

describe('backoffDelay', () => {
  const middle = () => 0.5;

  it('starts at the base delay and doubles with each attempt', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, 200, 1_000_000, middle))).toEqual([
      200, 400, 800, 1600, 3200,
    ]);
  });

  it('never waits longer than the cap (before jitter)', () => {
    expect(backoffDelay(6, 200, 5000, middle)).toBe(5000);
    expect(backoffDelay(50, 200, 5000, middle)).toBe(5000);
    expect(backoffDelay(5, 200, 3200, middle)).toBe(3200);
  });

  it('jitters by ±25%, rounded to a whole millisecond', () => {
    expect(backoffDelay(1, 1000, 10_000, () => 0)).toBe(750);
    expect(backoffDelay(1, 1000, 10_000, () => 0.999_999)).toBe(1250);
    expect(backoffDelay(3, 1000, 10_000, () => 0.25)).toBe(3500);
    expect(backoffDelay(1, 3, 10_000, () => 0.5)).toBe(3);
    expect(backoffDelay(1, 3, 10_000, () => 0)).toBe(2); // 2.25
    expect(backoffDelay(1, 3, 10_000, () => 0.9)).toBe(4); // 3.6
    expect(backoffDelay(10, 1000, 10_000, () => 0)).toBe(7500); // capped, then jittered
  });

  it('uses Math.random by default: within ±25% of the exponential delay', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, 1000, 10_000);
      expect(d).toBeGreaterThanOrEqual(1500);
      expect(d).toBeLessThanOrEqual(2500);
    }
  });
});
