// `mcp-baton/vercel`: mcp-baton as Vercel functions (web-standard handlers on the Node.js
// runtime). One platform per function instance, built on its first request: Fluid compute sends
// an instance many requests. Settings come from the project's environment variables.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { EnvRecord } from '../config/index.js';
import { JsonRpcCode, jsonRpcError } from '../http/errors.js';
import { errorText } from '../log.js';
import { platformOf } from './assemble.js';
import type { BatonOptions } from './baton.js';
import { edgeBaton, edgeTakeover } from './edge.js';

export interface VercelHandlers {
  /** Every method of /mcp, /healthz and /readyz (rewrite them to the function that exports this). */
  fetch(request: Request): Promise<Response>;
  /**
   * The cron route: Vercel calls it with `Authorization: Bearer <CRON_SECRET>`; it sweeps, takes
   * over the tasks of instances gone (and waits for their re-runs), then answers the cleanup's report as JSON. 500 when CRON_SECRET is not set, 401 for any other caller.
   */
  cleanup(request: Request): Promise<Response>;
}

function sameSecret(presented: string, expected: string): boolean {
  // Digests have equal length, which timingSafeEqual needs; the comparison leaks nothing.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * Vercel's handlers. Settings: the options' `config`, else BATON_CONFIG_YAML; the environment
 * (`process.env`: DATABASE_URL, BATON_API_KEYS, ...) overrides them, as do the options' `env`.
 * `options` may be a function of the environment, read on the instance's first request.
 */
export function createVercel(options: BatonOptions | ((env: EnvRecord) => BatonOptions) = {}): VercelHandlers {
  const { baton, logger } = edgeBaton(options, () => process.env as EnvRecord, 'Vercel');
  const takeover = edgeTakeover(baton);
  return {
    fetch(request) {
      const answer = baton.fetch(request);
      // Runs while the function instance lives; the cron route is the look that waits for its runs.
      void takeover.due();
      return answer;
    },
    async cleanup(request) {
      const secret = process.env.CRON_SECRET;
      if (!secret) {
        logger().error('cleanup refused: CRON_SECRET is not set');
        return jsonRpcError(
          500,
          JsonRpcCode.InternalError,
          'CRON_SECRET must be set in the environment for the cleanup route (Vercel sends it with each cron request)',
        );
      }
      if (!sameSecret(request.headers.get('authorization') ?? '', `Bearer ${secret}`)) {
        return jsonRpcError(401, JsonRpcCode.ServerError, 'Unauthorized: expected Authorization: Bearer <CRON_SECRET>', {
          'WWW-Authenticate': 'Bearer',
        });
      }
      let platform;
      try {
        platform = await platformOf(baton);
      } catch (error) {
        return jsonRpcError(500, JsonRpcCode.InternalError, `Server failed to start: ${errorText(error)}`);
      }
      try {
        const report = await platform.store.cleanup();
        logger().info('cleanup', { ...report });
        // Tasks of instances gone: re-run here (answered once they ran, within the function's maxDuration) or failed.
        await takeover.now();
        return Response.json(report);
      } catch (error) {
        logger().error('cleanup failed', { error: errorText(error) });
        return jsonRpcError(500, JsonRpcCode.InternalError, 'Cleanup failed; the function log says why (the next run tries again)');
      }
    },
  };
}
