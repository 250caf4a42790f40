// SIGINT/SIGTERM: the first asks the work to stop at the next batch boundary; a second one exits now.
import { ExitCode } from '@backfill/engine/cli';

export interface Interrupt {
  signal: AbortSignal;
  /** Which signal arrived, if any. */
  received(): NodeJS.Signals | null;
  exitCode(): number;
  dispose(): void;
}

export function onInterrupt(onFirst: (sig: NodeJS.Signals) => void): Interrupt {
  const controller = new AbortController();
  let got: NodeJS.Signals | null = null;
  const handler = (sig: NodeJS.Signals) => {
    if (got) process.exit(sig === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated);
    got = sig;
    onFirst(sig);
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    received: () => got,
    exitCode: () =>
      got === 'SIGINT' ? ExitCode.interrupted : got === 'SIGTERM' ? ExitCode.terminated : ExitCode.ok,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
