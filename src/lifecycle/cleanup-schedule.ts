// The long-running server's cleanup trigger: the store's cleanup routine every
// `sessions.cleanup_interval`, started by the entry (never by a request). Workers and Vercel run
// the same routine from their cron handlers instead.
import type { Logger } from '../log.js';
import type { CleanupReport, SessionStore } from '../store/types.js';

export interface CleanupScheduleOptions {
  store: SessionStore;
  intervalMs: number;
  logger: Logger;
  /** Time budget of one run; defaults to the store's. */
  budgetMs?: number;
}

export interface CleanupSchedule {
  /** Runs the routine now unless a run is in progress (then resolves to undefined). */
  runNow(): Promise<CleanupReport | undefined>;
  /** No further runs; a run in progress stops after its current batch and is waited for. */
  stop(): Promise<void>;
}

export function startCleanupSchedule(options: CleanupScheduleOptions): CleanupSchedule {
  const { store, logger } = options;
  const abort = new AbortController();
  let running: Promise<CleanupReport | undefined> | undefined;

  const run = async (): Promise<CleanupReport | undefined> => {
    try {
      const report = await store.cleanup({ signal: abort.signal, ...(options.budgetMs !== undefined && { budgetMs: options.budgetMs }) });
      // Quiet when there was nothing to do: at one run a minute per instance, "removed 0" is noise.
      if (report.removed > 0 || report.truncated) logger.info('cleanup', { ...report });
      else logger.debug('cleanup', { ...report });
      return report;
    } catch (error) {
      // A failed run (database away) is retried at the next tick; it must not take the server down.
      logger.error('cleanup failed', { error: error instanceof Error ? error.message : String(error) });
      return undefined;
    }
  };

  const runNow = (): Promise<CleanupReport | undefined> => {
    // Never two runs at once: a run longer than the interval makes the next tick a no-op.
    if (running || abort.signal.aborted) {
      if (running) logger.debug('cleanup skipped: the previous run is still going');
      return Promise.resolve(undefined);
    }
    running = run().finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(() => void runNow(), options.intervalMs);
  // The HTTP server keeps the process alive; this timer alone must not.
  timer.unref();

  return {
    runNow,
    async stop() {
      clearInterval(timer);
      abort.abort();
      await running;
    },
  };
}
