// A job whose BullMQ lock has not been renewed for a whole lock duration (Redis unreachable or silent
// for this worker) belongs to nobody any more: the stalled-job check of another worker hands it to
// someone else. Stop working on it at the next batch boundary instead of racing the new owner (whose
// claim would refuse our writes anyway: the shard's epoch fences them).
import type { Logger } from '@backfill/engine/logger';
import type { Job, Worker } from 'bullmq';

export interface LockWatch {
  /** Wraps the job's processing: the job is watched while `fn` runs. */
  track<T>(job: Job, fn: () => Promise<T>): Promise<T>;
  stop(): void;
}

export function watchLocks(worker: Worker, lockDurationMs: number, log: Logger): LockWatch {
  const renewedAt = new Map<string, number>();
  worker.on('locksRenewed', ({ jobIds }: { jobIds: string[] }) => {
    const now = Date.now();
    for (const id of jobIds) if (renewedAt.has(id)) renewedAt.set(id, now);
  });
  const timer = setInterval(
    () => {
      const now = Date.now();
      for (const [id, at] of renewedAt) {
        if (now - at <= lockDurationMs) continue;
        renewedAt.delete(id);
        const reason = `its lock was not renewed for ${now - at} ms (is Redis reachable?)`;
        log.warn({ jobId: id }, `stopping job: ${reason}`);
        worker.cancelJob(id, reason);
      }
    },
    Math.max(250, Math.floor(lockDurationMs / 4)),
  );
  timer.unref();
  return {
    async track(job, fn) {
      const id = job.id ?? '';
      renewedAt.set(id, Date.now());
      try {
        return await fn();
      } finally {
        renewedAt.delete(id);
      }
    },
    stop: () => clearInterval(timer),
  };
}
