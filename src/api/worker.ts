// `mcp-baton/worker`: mcp-baton as a Cloudflare Worker. The platform is built on the first event
// an isolate sees (its bindings are known only then) and kept for the isolate's life; a failed
// build is not kept, so a fixed secret takes effect without a redeploy.
import { configFromEnv, type EnvRecord } from '../config/index.js';
import { readEnv } from '../config/env.js';
import { openEdgeDatabase } from '../db/open-edge.js';
import { OPEN_POLICY } from '../http/origin-guard.js';
import { createLogger, errorText, parseLogLevel, type Logger } from '../log.js';
import { openEdgeDatasource } from '../tools/data/open-edge.js';
import { type Baton, type BatonOptions, batonOver, buildPlatform, type RuntimeSupport } from './baton.js';
import { lazyPlatform, warnAboutMemorySessions } from './lazy.js';

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
  /** The cron trigger (wrangler.toml `[triggers] crons`): sweeps expired sessions. */
  scheduled(controller: WorkerScheduledController, env: EnvRecord, ctx: WorkerContext): void;
}

/** Workers and Vercel: settings come from BATON_CONFIG_YAML and the variables, and a configured database keeps the sessions. */
export const edgeRuntime: RuntimeSupport = {
  configFromSource: (env) => {
    const inline = readEnv(env, 'BATON_CONFIG_YAML');
    return { config: configFromEnv(env, { storeFollowsDatabase: true }), source: inline?.trim() ? 'BATON_CONFIG_YAML' : 'environment' };
  },
  defaults: { storeFollowsDatabase: true },
  openDatabase: openEdgeDatabase,
  openDatasource: openEdgeDatasource,
  // A deployment answers on its own domain (or routes bound to it), where DNS rebinding to
  // localhost is not a threat: any Host/Origin unless BATON_ALLOWED_HOSTS / BATON_ALLOWED_ORIGINS
  // (or the configuration) narrow it.
  defaultOriginPolicy: OPEN_POLICY,
};

/**
 * A Baton for a runtime that gives its settings with each event (Workers): built from `env()` on
 * first use. `options` may be a function of the environment (to read a binding of your own).
 */
export function edgeBaton(
  options: BatonOptions | ((env: EnvRecord) => BatonOptions),
  env: () => EnvRecord,
  runtimeName: string,
): { baton: Baton; logger: () => Logger } {
  let logger: Logger = createLogger();
  const lazy = lazyPlatform(
    async () => {
      const current = env();
      const given = typeof options === 'function' ? options(current) : options;
      const merged = { ...current, ...given.env };
      logger = typeof given.logger === 'object' ? given.logger : createLogger(given.logger ?? parseLogLevel(readEnv(merged, 'LOG_LEVEL')));
      return warnAboutMemorySessions(await buildPlatform(given, merged, edgeRuntime, logger), runtimeName);
    },
    () => logger,
  );
  return { baton: batonOver(lazy), logger: () => logger };
}

/**
 * The Worker's handlers. Settings: the options' `config`, else BATON_CONFIG_YAML; the bindings
 * (variables and secrets: DATABASE_URL, BATON_API_KEYS, ...) override them, as do the options'
 * `env`. With DATABASE_URL set, sessions live in that database (Neon, over HTTP).
 */
export function createWorker(options: BatonOptions | ((env: EnvRecord) => BatonOptions) = {}): WorkerHandlers {
  let bindings: EnvRecord = {};
  const { baton, logger } = edgeBaton(options, () => bindings, 'Cloudflare Workers');
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
    fetch(request, env) {
      bindings = env;
      return baton.fetch(request);
    },
    scheduled(controller, env, ctx) {
      bindings = env;
      ctx.waitUntil(cleanup(controller.cron));
    },
  };
}
