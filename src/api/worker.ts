// `mcp-baton/worker`: mcp-baton as a Cloudflare Worker. The platform is built on the first event
// an isolate sees (its bindings are known only then) and kept for the isolate's life; a failed
// build is not kept, so a fixed secret takes effect without a redeploy.
import type { EnvRecord } from '../config/index.js';
import { errorText } from '../log.js';
import { fetchWithWaitUntil } from './assemble.js';
import type { BatonOptions } from './baton.js';
import { edgeBaton, edgeTakeover } from './edge.js';

/** The part of Cloudflare's ExecutionContext used here. */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** The part of Cloudflare's ScheduledController used here. */
export interface WorkerScheduledController {
  readonly cron: string;
}

/** What a Worker module exports as its default: `export default createWorker({ ... })`. */
export interface WorkerHandlers {
  fetch(request: Request, env: EnvRecord, ctx: WorkerContext): Promise<Response>;
  /** The cron trigger (wrangler.toml `[triggers] crons`): sweeps expired sessions, takes over tasks of instances gone. */
  scheduled(controller: WorkerScheduledController, env: EnvRecord, ctx: WorkerContext): void;
}

/**
 * The Worker's handlers. Settings: the options' `config`, else BATON_CONFIG_YAML; the bindings
 * (variables and secrets: DATABASE_URL, BATON_API_KEYS, ...) override them, as do the options'
 * `env`. With DATABASE_URL set, sessions live in that database (Neon, over HTTP).
 */
export function createWorker(options: BatonOptions | ((env: EnvRecord) => BatonOptions) = {}): WorkerHandlers {
  let bindings: EnvRecord = {};
  const { baton, logger } = edgeBaton(options, () => bindings, 'Cloudflare Workers');
  const takeover = edgeTakeover(baton);
  /** Rejects on a failed start or cleanup, so the run counts as failed in the cron history. */
  const cleanup = async (cron: string) => {
    try {
      logger().info('cleanup', { cron, ...(await baton.cleanup()) });
    } catch (error) {
      logger().error('cleanup failed', { cron, error: errorText(error) });
      throw error;
    }
  };
  return {
    fetch(request, env, ctx) {
      bindings = env;
      // A task the request starts runs on after the response under the request's waitUntil.
      const answer = fetchWithWaitUntil(baton, request, (work) => ctx.waitUntil(work));
      ctx.waitUntil(takeover.due());
      return answer;
    },
    scheduled(controller, env, ctx) {
      bindings = env;
      ctx.waitUntil(cleanup(controller.cron));
      ctx.waitUntil(takeover.now());
    },
  };
}
