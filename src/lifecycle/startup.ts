// Start-up of a long-running server: it reports ready only once its store can serve. For the
// database store that is the migration check (and the migration, on a fresh database), paid here
// instead of by the first request. A database that is not there yet is retried: the process stays
// alive (liveness 200) and not ready (readiness 503) until it is, as orchestrators expect.
import type { LogFields, Logger } from '../log.js';
import type { SessionStore } from '../store/types.js';

export interface WaitForStoreOptions {
  logger: Logger;
  /** Aborted by shutdown: stop retrying. */
  signal: AbortSignal;
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Added to each "not ready" line (where the database is, without its password). */
  fields?: LogFields;
  /** Told about each failed attempt (readiness says why it is not ready). */
  onFailure?: (error: unknown) => void;
}

/** Resolves true once the store is ready, false when aborted first. */
export async function waitForStore(store: SessionStore, options: WaitForStoreOptions): Promise<boolean> {
  if (!store.ready) return true;
  let delay = options.firstRetryMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    if (options.signal.aborted) return false;
    try {
      await store.ready();
      return true;
    } catch (error) {
      options.onFailure?.(error);
      options.logger.warn('session store not ready, retrying', {
        attempt,
        retryInMs: delay,
        error: error instanceof Error ? error.message : String(error),
        ...options.fields,
      });
    }
    const aborted = await pause(delay, options.signal);
    if (aborted) return false;
    delay = Math.min(delay * 2, options.maxRetryMs ?? 10_000);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
