// Command results go to stdout: one JSON object with --json (for scripts), readable lines otherwise.
export function printResult(json: boolean, result: unknown, human: () => string[]): void {
  if (json) {
    process.stdout.write(
      `${JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
    );
  } else {
    process.stdout.write(`${human().join('\n')}\n`);
  }
}

export const fmtInt = (n: number | bigint) => Number(n).toLocaleString('en-US');
export const fmtSeconds = (s: number) => (s < 10 ? `${s.toFixed(2)}s` : `${s.toFixed(1)}s`);
