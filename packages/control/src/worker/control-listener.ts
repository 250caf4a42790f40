// LISTEN on the ledger's control channel: a pause, a resume, a cancel or a settings change reaches
// this worker as soon as it commits, not at the next poll. One connection of its own (LISTEN needs a
// session); if it drops, the worker falls back on polling until it is back.
import { connectClient, sleep } from '@backfill/engine/db';
import { CONTROL_CHANNEL } from '@backfill/engine/ledger';
import type { Logger } from '@backfill/engine/logger';
import type pg from 'pg';

export interface ControlListener {
  stop(): Promise<void>;
}

export function listenForControl(databaseUrl: string, onChange: () => void, log: Logger): ControlListener {
  let stopped = false;
  let client: pg.Client | null = null;
  const loop = async () => {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        const c = await connectClient(databaseUrl, { application_name: 'backfill-worker-listen' });
        client = c;
        const lost = new Promise<void>((resolve) => {
          c.on('error', () => resolve());
          c.on('end', () => resolve());
        });
        c.on('notification', () => onChange());
        await c.query(`LISTEN ${CONTROL_CHANNEL}`);
        attempt = 0;
        onChange(); // whatever happened while not listening
        await lost;
      } catch (err) {
        if (!stopped) log.debug({ err: (err as Error).message }, 'control channel: reconnecting');
      }
      client = null;
      if (!stopped) await sleep(Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)));
    }
  };
  void loop();
  return {
    async stop() {
      stopped = true;
      await client?.end().catch(() => {});
    },
  };
}
