// What Workers and Vercel share: settings from the environment (BATON_CONFIG_YAML and the
// variables), a database over Neon's serverless driver, any Host/Origin by default, a platform
// built on the first event an instance sees, and the takeover of tasks driven by events (no loop).
import { configFromEnv, type EnvRecord } from '../config/index.js';
import { readEnv } from '../config/env.js';
import { openEdgeDatabase } from '../store/db/open-edge.js';
import { OPEN_POLICY } from '../http/origin-guard.js';
import { createLogger, loggerFor, type Logger } from '../log.js';
import { openEdgeDatasource } from '../tools/data/open-edge.js';
import { batonOver, buildPlatform, platformOf, type RuntimeSupport } from './assemble.js';
import type { Baton, BatonOptions } from './baton.js';
import { lazyPlatform, warnAboutMemorySessions } from './lazy.js';

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
      logger = loggerFor(given.logger, merged);
      return warnAboutMemorySessions(await buildPlatform(given, merged, edgeRuntime, logger), runtimeName);
    },
    () => logger,
  );
  return { baton: batonOver(lazy), logger: () => logger };
}

export interface EdgeTakeover {
  /** From a request: a look unless this isolate made one less than `tasks.takeover_interval` ago. */
  due(): Promise<void>;
  /** From the cron handler: a look now. */
  now(): Promise<void>;
}

/**
 * Takes over the tasks of instances that are gone, where nothing runs between events: each call
 * resolves once the tasks it started again have run, so that Workers keep the isolate for them
 * (`ctx.waitUntil`) and Vercel's cron answers after them.
 */
export function edgeTakeover(baton: Baton): EdgeTakeover {
  return {
    async due() {
      // A platform that failed to build is reported by the request's own answer (500, saying why).
      const platform = await platformOf(baton).catch(() => undefined);
      const look = platform?.takeover.runIfDue();
      if (look) await (await look).runs;
    },
    async now() {
      await (await (await platformOf(baton)).takeover.run()).runs;
    },
  };
}
