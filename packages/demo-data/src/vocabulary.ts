// The word lists row contents are drawn from. They mix in unicode, escapes and multi-line text on
// purpose: production rows have them, and the backfill must carry them through unchanged. Order matters
// (draws index into these lists), so append nothing and reorder nothing.

export const STEPS = [
  'checkout',
  'install',
  'lint',
  'build',
  'test',
  'package',
  'deploy',
  'smoke-test',
  'e2e',
];
export const UNICODE = [
  'café crème',
  'naïve façade',
  'Überprüfung abgeschlossen',
  'ビルドが完了しました',
  '构建成功',
  '테스트 통과',
  'Привет, мир',
  'مرحبا بالعالم',
  'São Paulo',
  'Ωmega ≈ ∑ √π',
  'e\u0301 (combining acute)',
  '🚀 deploying',
  '✅ all green',
  '🔥🐛 flaky',
  '👩‍💻 pair review',
  'smörgåsbord',
] as const;
export const LOG_LINES = [
  'Resolving dependencies',
  'Downloading pg@8.23.1 (1.2 MB)',
  'Compiled 214 files in 3.4s',
  'warning: unused variable `ctx`',
  'npm WARN deprecated glob@7.2.3',
  'PASS test/shard.test.ts (4.12 s)',
  'FAIL test/ledger.test.ts › resumes after crash',
  'Using cache key "npm-linux-x64-5f3c"',
  'Wrote C:\\build\\out\\report.xml',
  'exit status 0',
  'connection reset by peer; retrying in 500ms',
  '\tat Object.<anonymous> (src/index.ts:12:7)',
  'multi\nline\noutput',
] as const;
export const METRICS: readonly (readonly [string, string, number])[] = [
  ['cpu.usage', '%', 100],
  ['memory.rss', 'MiB', 4096],
  ['disk.io.read', 'KiB/s', 90_000],
  ['queue.depth', 'jobs', 40],
  ['http.latency.p99', 'ms', 900],
  ['temperature', '°C', 90],
];
export const ERROR_CODES = ['ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', '57014', '40P01', 'HTTP_503'] as const;
export const CONTENT_TYPES = [
  'application/gzip',
  'application/json',
  'text/html; charset=utf-8',
  'image/png',
] as const;
