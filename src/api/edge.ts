// What Workers and Vercel share: settings from the environment (BATON_CONFIG_YAML and the
// variables), a database over Neon's serverless driver, any Host/Origin by default, and a
// platform built on the first event an instance sees.
import { configFromEnv, type EnvRecord } from '../config/index.js';
import { readEnv } from '../config/env.js';
import { openEdgeDatabase } from '../store/db/open-edge.js';
import { OPEN_POLICY } from '../http/origin-guard.js';
import { createLogger, loggerFor, type Logger } from '../log.js';
import { openEdgeDatasource } from '../tools/data/open-edge.js';
import { batonOver, buildPlatform, type RuntimeSupport } from './assemble.js';
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
