// Runs. Rows are spread over a few "lanes" (concurrent CI pipelines); in each lane the index space is cut
// into runs of a lane-specific length at a seed-specific offset. A row picks its lane at random, so runs
// interleave and each run owns ~50–500 rows that are consecutive-ish. A run's attributes come from its
// own stream, so every row of a run agrees on them without any shared state.

import { hash32, mulberry32 } from './prng.js';
import { hexString, int, pick, uuidFrom } from './random.js';

export const LANES: readonly { share: number; span: number }[] = [
  { share: 0.4, span: 240 }, // ~96 rows per run
  { share: 0.3, span: 700 }, // ~210
  { share: 0.2, span: 1500 }, // ~300
  { share: 0.1, span: 4500 }, // ~450
];

export interface Run {
  id: string;
  host: string;
  region: string;
  branch: string;
  commit: string;
  pipeline: number;
  actor: string;
}

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-northeast-1', 'sa-east-1', 'eu-central-1'] as const;
const BRANCHES = [
  'main',
  'release/2.4',
  'feature/événements',
  'fix/ユニコード',
  'dependabot/npm/pg-8.23',
  'hotfix/🔥',
];
const ACTORS = ['renée', 'jürgen', 'søren', '李雷', 'ayşe', 'dependabot[bot]', 'ci', 'mrinal'];

export function runFor(seed: number, lane: number, runNo: number): Run {
  const h = hash32(seed, 0x52554e, lane, runNo);
  const r = mulberry32(h);
  const w = () => Math.floor(r() * 4294967296);
  return {
    id: uuidFrom(w(), w(), w(), w()),
    host: `runner-${String(h % 48).padStart(2, '0')}`,
    region: pick(r, REGIONS),
    branch: pick(r, BRANCHES),
    commit: hexString(r, 40),
    pipeline: int(r, 1000, 999_999),
    actor: pick(r, ACTORS),
  };
}
