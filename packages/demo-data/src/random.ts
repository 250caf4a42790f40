// Turning a stream's floats into typed values. How many draws each helper takes, and in what order, is
// part of the generated rows: callers rely on it, so these must stay exactly as they are.

import type { Rng } from './prng.js';

export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const int = (r: Rng, min: number, max: number): number => min + Math.floor(r() * (max - min + 1));
export const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export function weighted<T>(table: readonly (readonly [T, number])[]): (r: Rng) => T {
  const total = table.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  const cumulative = table.map(([v, w]): [T, number] => {
    acc += w;
    return [v, acc / total];
  });
  return (r) => {
    const x = r();
    for (const [v, c] of cumulative) if (x < c) return v;
    return table[table.length - 1]![0];
  };
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

export function uuidFrom(w0: number, w1: number, w2: number, w3: number): string {
  const a = hex8(w0);
  const b = hex8((w1 & 0xffff0fff) | 0x00004000); // version 4
  const c = hex8((w2 & 0x3fffffff) | 0x80000000); // RFC 4122 variant
  const d = hex8(w3);
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
}

export function hexString(r: Rng, chars: number): string {
  let s = '';
  while (s.length < chars) s += hex8(Math.floor(r() * 4294967296));
  return s.slice(0, chars);
}

export function isoAround(ms: number, r: Rng): string {
  return new Date(ms - int(r, 0, 60_000)).toISOString();
}
