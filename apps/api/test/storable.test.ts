// The body checks JSON.parse cannot make (src/body): which number literals are stored other than written,
// and where in a body a value PostgreSQL cannot store sits. Cross-checked against PostgreSQL's numeric:
// two literals have one decimalKey exactly when numeric calls them equal.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../../test-support/db.js';
import { decimalKey, numberProblem } from '../src/body/decimal.js';
import { storableProblem } from '../src/body/storable.js';

/** JSON number literals of every shape: signs, leading zeros after the point, exponents, long digit runs. */
const literal = fc
  .record({
    neg: fc.boolean(),
    int: fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9]\d{0,25}$/)),
    frac: fc.option(fc.stringMatching(/^\d{1,25}$/), { nil: undefined }),
    exp: fc.option(
      fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 400 })),
      {
        nil: undefined,
      },
    ),
  })
  .map(
    ({ neg, int, frac, exp }) =>
      `${neg ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}${exp ? `${exp[0]}${exp[1]}${exp[2]}` : ''}`,
  );

describe('decimalKey and numberProblem', () => {
  it('one key per value', () => {
    expect(decimalKey('1.50')).toBe(decimalKey('1.5'));
    expect(decimalKey('15e-1')).toBe(decimalKey('1.5'));
    expect(decimalKey('0')).toBe('0');
    expect(decimalKey('-0.000e5')).toBe('0');
    expect(decimalKey('1000')).toBe(decimalKey('1e3'));
    expect(decimalKey('1e+21')).toBe(decimalKey('1000000000000000000000'));
    expect(decimalKey('-2')).not.toBe(decimalKey('2'));
    expect(decimalKey('0.1')).not.toBe(decimalKey('0.10000000000000001'));
    expect(() => decimalKey('1.')).toThrow(TypeError);
  });

  it('integers are exact or refused; fractions and exponents are doubles; the double range is enforced', () => {
    expect(numberProblem('9007199254740991')).toBeNull();
    expect(numberProblem('9007199254740992')).toBeNull(); // 2^53 is a double
    expect(numberProblem('9007199254740993')).toBe('inexact-integer');
    expect(numberProblem('-9007199254740993')).toBe('inexact-integer');
    expect(numberProblem('12345678901234567890')).toBe('inexact-integer');
    expect(numberProblem('100000000000000000000')).toBeNull(); // 1e20 is a double
    expect(numberProblem('1000000000000000000000')).toBeNull(); // 1e21 too, though printed 1e+21
    expect(numberProblem('12345678901234567890.0')).toBeNull(); // written as a fraction: a double
    expect(numberProblem('0.10000000000000001')).toBeNull();
    expect(numberProblem('1e400')).toBe('overflow');
    expect(numberProblem('-1.7976931348623159e308')).toBe('overflow');
    expect(numberProblem('1.7976931348623157e308')).toBeNull();
    expect(numberProblem('1e-400')).toBe('underflow');
    expect(numberProblem('2e-324')).toBe('underflow');
    expect(numberProblem('5e-324')).toBeNull();
    expect(numberProblem('0e-999')).toBeNull();
    expect(numberProblem('-0')).toBeNull();
  });

  it('never refuses a number a JavaScript client serialized', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        expect(numberProblem(JSON.stringify(d))).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every integer up to 2^53', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 53n), max: 2n ** 53n }), (n) => {
        expect(numberProblem(n.toString())).toBeNull();
      }),
      { numRuns: 2000 },
    );
    // Beyond, a double may hold the integer and still print it otherwise: 30023997515803312 is a double,
    // printed (and so stored) as 30023997515803310.
    expect(numberProblem('30023997515803312')).toBe('inexact-integer');
    expect(numberProblem('30023997515803310')).toBeNull();
  });
});

describe('against PostgreSQL numeric', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: await freshDatabase('api_numeric') });
    await client.connect();
  });
  afterAll(() => client?.end());

  it('decimalKey(a) === decimalKey(b) exactly when a::numeric = b::numeric', async () => {
    const pairs = fc.sample(
      fc.oneof(
        fc.tuple(literal, literal),
        // Same value, other spelling: the interesting half.
        literal.map(
          (l) => [l, l.replace(/^(-?)(\d+)$/, '$1$2.000').replace(/e\+?(\d+)$/i, 'E+$1')] as [string, string],
        ),
        fc
          .double({ noNaN: true, noDefaultInfinity: true })
          .map((d) => [String(d), d.toExponential()] as [string, string]),
      ),
      { numRuns: 1500, seed: 20240611 },
    );
    const { rows } = await client.query<{ eq: boolean }>(
      'SELECT a::numeric = b::numeric AS eq FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(a, b, i) ORDER BY i',
      [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    );
    let same = 0;
    pairs.forEach(([a, b], i) => {
      expect(decimalKey(a) === decimalKey(b), `${a} vs ${b}`).toBe(rows[i]!.eq);
      if (rows[i]!.eq) same++;
    });
    expect(same).toBeGreaterThan(300); // the property saw both answers often
  });

  it('refuses an integer exactly when the number stored (JSON.stringify of its double) is not the one written', async () => {
    const ints = fc.sample(
      fc.oneof(
        fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
        fc.bigInt({ min: 2n ** 52n, max: 2n ** 56n }),
      ),
      { numRuns: 1500, seed: 7 },
    );
    const written = ints.map(String);
    const stored = written.map((s) => JSON.stringify(JSON.parse(s)));
    const { rows } = await client.query<{ same: boolean }>(
      `SELECT (a::jsonb)::numeric = (b::jsonb)::numeric AS same
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(a, b, i) ORDER BY i`,
      [written, stored],
    );
    let refused = 0;
    written.forEach((s, i) => {
      expect(numberProblem(s) === null, s).toBe(rows[i]!.same);
      if (!rows[i]!.same) refused++;
    });
    expect(refused).toBeGreaterThan(100);
  });
});

describe('storableProblem', () => {
  it('finds the first value PostgreSQL cannot store as written, with its path', () => {
    expect(storableProblem('{"events":[{"data":{"a":[1,2,{"b c":12345678901234567890}]}}]}')).toMatchObject({
      field: 'events[0].data.a[2]["b c"]',
    });
    expect(storableProblem('{"data":"x\\u0000"}')?.field).toBe('data');
    expect(storableProblem('{"data":{"\\u0000":1}}')?.field).toBe('data["\\u0000"]');
    expect(storableProblem('{"data":["\\ud83d"]}')).toMatchObject({
      field: 'data[0]',
      reason: /lone surrogate/,
    });
    expect(storableProblem('{"data":["\\udc00\\ud83d"]}')?.field).toBe('data[0]');
    expect(storableProblem('1e999')?.field).toBe('body');
    expect(storableProblem('[[[[[1]]]]]', 4)?.reason).toMatch(/nested deeper/);
  });

  it('lets through what only looks suspicious', () => {
    expect(storableProblem('{"data":{"s":"\\\\u0000","t":"12345678901234567890","e":"1e999"}}')).toBeNull();
    expect(storableProblem('{"data":["\\ud83d\\ude00", 1e21, 1.5e-300, 9007199254740992]}')).toBeNull();
    expect(storableProblem('{"data":[5e-324, -0, 0.0000000000000000000001]}')).toBeNull();
  });

  it('finds nothing in what JSON.stringify makes of a storable value', () => {
    const noNul = (v: unknown): boolean =>
      typeof v === 'string'
        ? !v.includes('\u0000') && (v as string & { isWellFormed(): boolean }).isWellFormed()
        : Array.isArray(v)
          ? v.every(noNul)
          : v !== null && typeof v === 'object'
            ? Object.entries(v).every(([k, x]) => noNul(k) && noNul(x))
            : true;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.jsonValue({ stringUnit: 'binary' }),
          fc.jsonValue({ stringUnit: 'grapheme' }),
        ),
        (v) => {
          const p = storableProblem(JSON.stringify({ events: [{ data: v }] }));
          expect(p === null).toBe(noNul(v));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
