// Platforms on Workers and Vercel are built on the first event an instance sees and kept for its
// life. A failed build (a configuration error) is not kept: every request says why, and the next
// one tries again, so a fixed setting takes effect without a redeploy.
import { JsonRpcCode, jsonRpcError } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { Platform } from '../platform.js';

export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export interface LazyPlatform {
  load(): Promise<Platform>;
  /** Answers with the platform, or with a 500 naming why it could not be built. */
  respond(answer: (platform: Platform) => Response | Promise<Response>): Promise<Response>;
}

export function lazyPlatform(build: () => Promise<Platform>, logger: () => Logger): LazyPlatform {
  let platform: Promise<Platform> | undefined;
  const load = () =>
    // Built in a later microtask, so that a failure clears the cache after it was filled.
    (platform ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        platform = undefined;
        logger().error('platform failed to start', { error: messageOf(error) });
        throw error;
      }));
  return {
    load,
    async respond(answer) {
      let started: Platform;
      try {
        started = await load();
      } catch (error) {
        return jsonRpcError(500, JsonRpcCode.InternalError, `Server failed to start: ${messageOf(error)}`);
      }
      return answer(started);
    },
  };
}
