// Platforms on Workers and Vercel are built on the first event an instance sees and kept for its
// life. A failed build (a configuration error) is not kept: every request says why, and the next
// one tries again, so a fixed setting takes effect without a redeploy.
import { JsonRpcCode, jsonRpcError } from '../http/errors.js';
import { errorText, type Logger } from '../log.js';
import type { Platform } from '../platform/platform.js';

/**
 * Said once per isolate, when its platform is built (its first request): Workers and Vercel run
 * many isolates that share no memory, so a session kept in one is unknown to the next one a
 * request of it lands on, and the client gets 404.
 */
export function warnAboutMemorySessions(platform: Platform, runtime: string): Platform {
  if (platform.store.kind === 'memory') {
    platform.logger.warn('sessions are kept in memory and will not survive this isolate', {
      runtime,
      consequence:
        'each isolate keeps its own sessions: a request that lands on another isolate (or comes after this one is recycled) gets 404 and the client must start over',
      fix: 'set the secret DATABASE_URL to a Postgres (Neon) URL; the database store then keeps sessions for every isolate (sessions.store follows it unless set)',
    });
  }
  return platform;
}

export interface LazyPlatform {
  load(): Promise<Platform>;
  /** Answers with the platform, or with a 500 naming why it could not be built. */
  respond(answer: (platform: Platform) => Response | Promise<Response>): Promise<Response>;
  /** Closes the platform if one was built. For good: later uses fail (respond answers 503). */
  close(): Promise<void>;
}

/** What a closed platform answers: it will not serve again, and nothing is built anew. */
class ClosedError extends Error {
  constructor() {
    super('this mcp-baton was closed');
    this.name = 'ClosedError';
  }
}

export function lazyPlatform(build: () => Promise<Platform>, logger: () => Logger): LazyPlatform {
  let platform: Promise<Platform> | undefined;
  let closed = false;
  const load = () => {
    if (closed) return Promise.reject(new ClosedError());
    // Built in a later microtask, so that a failure clears the cache after it was filled.
    return (platform ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        platform = undefined;
        logger().error('platform failed to start', { error: errorText(error) });
        throw error;
      }));
  };
  return {
    load,
    async respond(answer) {
      let started: Platform;
      try {
        started = await load();
      } catch (error) {
        if (error instanceof ClosedError)
          return jsonRpcError(503, JsonRpcCode.ServerError, 'Service unavailable: this server was shut down');
        return jsonRpcError(500, JsonRpcCode.InternalError, `Server failed to start: ${errorText(error)}`);
      }
      return answer(started);
    },
    async close() {
      closed = true;
      const current = platform;
      platform = undefined;
      const built = await current?.catch(() => undefined);
      await built?.close();
    },
  };
}
