// A vitest setupFile: every fast-check property of a test file runs from one seed, FC_SEED when given,
// otherwise a new random one. A failing property prints it (`{ seed: …, path: … }` in fast-check's
// error), and `FC_SEED=<seed> npx vitest run <file>` replays the same cases, shrinking included.
import fc from 'fast-check';

function seedFrom(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return Math.floor(Math.random() * 2 ** 32) - 2 ** 31;
  const seed = Number(raw.trim());
  // fast-check prints 32-bit integers; anything else was not copied from its output.
  if (!Number.isInteger(seed) || seed < -(2 ** 31) || seed >= 2 ** 32) {
    throw new Error(`FC_SEED must be the integer seed fast-check printed ({ seed: … }), got ${raw}`);
  }
  return seed;
}

fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: seedFrom(process.env.FC_SEED) });
