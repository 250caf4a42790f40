// Progress for long commands: a bar on a TTY (cli-progress), periodic log lines otherwise.

import type { Logger } from '@backfill/engine/logger';
import cliProgress from 'cli-progress';

export interface Progress {
  setTotal(total: number): void;
  update(done: number, extra?: Record<string, unknown>): void;
  /** A short note shown with the bar (e.g. what holds the work), '' to clear. Logged off a TTY. */
  note(text: string): void;
  stop(): void;
}

export function createProgress(opts: {
  label: string;
  logger: Logger;
  intervalMs?: number;
  json?: boolean;
}): Progress {
  let total = 0;
  const started = Date.now();
  if (process.stderr.isTTY && !opts.json) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${opts.label} |{bar}| {percentage}% · {value}/{total} rows · {rate} rows/s · ETA {eta_formatted}{note}`,
        stream: process.stderr,
        etaBuffer: 50,
        fps: 5,
        formatValue: (v, _o, type) =>
          type === 'value' || type === 'total' ? Number(v).toLocaleString('en-US') : String(v),
      },
      cliProgress.Presets.shades_classic,
    );
    let started_ = false;
    let note = '';
    return {
      setTotal(t) {
        total = Math.max(t, 1);
        if (!started_) {
          bar.start(total, 0, { rate: 0, note });
          started_ = true;
        } else bar.setTotal(total);
      },
      note(text) {
        note = text ? ` · ${text}` : '';
        if (started_) bar.update({ note });
      },
      update(done) {
        if (done > total) {
          total = done;
          bar.setTotal(total);
        }
        const rate = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
        bar.update(done, { rate: rate.toLocaleString('en-US'), note });
      },
      stop: () => bar.stop(),
    };
  }
  let lastLog = 0;
  const interval = opts.intervalMs ?? 5000;
  return {
    setTotal(t) {
      total = t;
    },
    note() {
      // The batch engine logs holds itself ("holding: …", "gate cleared").
    },
    update(done, extra) {
      const now = Date.now();
      // Periodic lines, and always the one that reaches the total.
      if (now - lastLog < interval && !(total > 0 && done >= total)) return;
      lastLog = now;
      const seconds = (now - started) / 1000;
      const rate = done / Math.max(0.001, seconds);
      const etaSeconds = total > done && rate > 0 ? Math.round((total - done) / rate) : null;
      opts.logger.info(
        { done, estimatedTotal: total, rowsPerSecond: Math.round(rate), etaSeconds, ...extra },
        `${opts.label}: ${done} of ~${total} rows`,
      );
    },
    stop() {},
  };
}
