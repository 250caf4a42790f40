// BullMQ's own view of the queues (bull-board) at /queues, read-only: for looking at raw jobs. Retries
// and every other action go through the API, so the ledger stays the truth. The queues shown follow the
// active runs (updated from the live feed).
import type { ControlContext } from '@backfill/control';
import { openRunQueue } from '@backfill/control';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { LiveFeed } from './live-feed.js';

export async function registerQueueView(
  app: FastifyInstance,
  ctx: ControlContext,
  feed: LiveFeed,
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath('/queues');
  const board = createBullBoard({ queues: [], serverAdapter });
  const shown = new Map<string, ReturnType<typeof openRunQueue>>();
  const sync = async () => {
    const s = await feed.current();
    const want = new Map(
      s.runs.filter((r) => r.run.queue && !r.run.queueClearedAt).map((r) => [r.run.queue!, r]),
    );
    for (const [name, q] of shown) {
      if (want.has(name)) continue;
      board.removeQueue(name);
      shown.delete(name);
      await q.close();
    }
    for (const [name, r] of want) {
      if (shown.has(name)) continue;
      const q = openRunQueue({ id: Number(r.run.id), queue: name }, { transport: ctx.transport });
      shown.set(name, q);
      board.addQueue(
        new BullMQAdapter(q, {
          readOnlyMode: true,
          description: `run ${r.run.name}`,
          displayName: r.run.name,
        }),
      );
    }
  };
  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/queues')) await sync().catch(() => {});
  });
  app.addHook('onClose', async () => {
    for (const q of shown.values()) await q.close();
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: '/queues' });
}
