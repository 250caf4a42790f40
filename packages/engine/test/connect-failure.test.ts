// What a failure to connect becomes: an error whose kind gives the exit code (3: the service is
// unreachable or refuses us; 2: the configuration names something that is not there), with the reason.
// The login refusal and the unknown database are also tested end to end (apps/cli/test/traps.test.ts);
// "the database system is starting up" (57P03) cannot be produced on demand, so its SQLSTATE is used here.
import { describeFailure } from '@backfill/engine/cli';
import { connectFailure } from '@backfill/engine/db';
import { UnavailableError, UsageError } from '@backfill/engine/errors';
import { describe, expect, it } from 'vitest';

const URL_ = 'postgres://app:secret@db.internal:6543/backfill';
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('connectFailure', () => {
  it.each([
    ['57P03', 'the database system is starting up', /not accepting connections now/],
    ['53300', 'sorry, too many clients already', /not accepting connections now/],
    ['28P01', 'password authentication failed for user "app"', /refused the login of user "app"/],
    ['28000', 'no pg_hba.conf entry for host', /refused the login of user "app"/],
  ])('%s (%s) is unavailable: exit 3, with where and why', (code, message, expected) => {
    const err = connectFailure(URL_, pgError(code, message));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(expected);
    expect((err as Error).message).toContain('db.internal:6543');
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).not.toContain('secret');
    expect(describeFailure(err).exitCode).toBe(3);
  });

  it('an unknown database is a usage error (exit 2) that says how to create it', () => {
    const err = connectFailure(URL_, pgError('3D000', 'database "backfill" does not exist'));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(
      /database "backfill" does not exist on db.internal:6543.*--create-database/,
    );
    expect(describeFailure(err).exitCode).toBe(2);
  });

  it('a refused or timed-out connection is unreachable (exit 3); anything else is left as it is', () => {
    expect(connectFailure(URL_, pgError('ECONNREFUSED', 'connect ECONNREFUSED'))).toBeInstanceOf(
      UnavailableError,
    );
    expect(connectFailure(URL_, new Error('timeout exceeded when trying to connect'))).toBeInstanceOf(
      UnavailableError,
    );
    const other = pgError('42601', 'syntax error');
    expect(connectFailure(URL_, other)).toBe(other);
  });

  it('the top-level safety net gives the same exit codes for untyped errors', () => {
    expect(describeFailure(pgError('57P03', 'starting up')).exitCode).toBe(3);
    expect(describeFailure(pgError('3D000', 'no such database')).exitCode).toBe(2);
    expect(describeFailure(new URIError('URI malformed')).exitCode).toBe(2);
  });
});
