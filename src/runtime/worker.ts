// Cloudflare Workers entry: wires bindings, the fetch event and the cron trigger to the platform.
import type { ExecutionContext } from 'hono';
import { configFromEnv, type EnvRecord } from '../config/index.js';
import { readEnv } from '../config/env.js';
import { openEdgeDatabase } from '../db/open-edge.js';
import { openEdgeDatasource } from '../tools/data/open-edge.js';
import { createLogger, parseLogLevel } from '../log.js';
import { createPlatform, OPEN_POLICY } from '../platform.js';
import { lazyPlatform, messageOf, warnAboutMemorySessions } from './lazy-platform.js';

/** The part of Cloudflare's ScheduledController used here (its global types clash with DOM's). */
interface ScheduledController {
  readonly cron: string;
}

let env: EnvRecord = {};
let logger = createLogger();

// A deployed Worker answers on its own domain (or routes bound to it), so DNS rebinding to
// localhost is not a threat: accept any Host/Origin unless BATON_ALLOWED_HOSTS /
// BATON_ALLOWED_ORIGINS (or BATON_CONFIG_YAML) narrow it. `wrangler dev` on a machine with a
// browser should set BATON_ALLOWED_HOSTS=localhost,127.0.0.1.
const platform = lazyPlatform(
  () => {
    logger = createLogger(parseLogLevel(readEnv(env, 'LOG_LEVEL')));
    return createPlatform(configFromEnv(env, { storeFollowsDatabase: true }), {
      defaultOriginPolicy: OPEN_POLICY,
      logger,
      openDatabase: openEdgeDatabase,
      openDatasource: openEdgeDatasource,
      env,
    }).then((built) => warnAboutMemorySessions(built, 'Cloudflare Workers'));
  },
  () => logger,
);

/** Rejects on a failed start or cleanup, so the run counts as failed in the cron history. */
async function cleanup(cron: string, bindings: EnvRecord): Promise<void> {
  env = bindings;
  const { store, logger } = await platform.load();
  try {
    logger.info('cleanup', { cron, ...(await store.cleanup()) });
  } catch (error) {
    logger.error('cleanup failed', { cron, error: messageOf(error) });
    throw error;
  }
}

export default {
  fetch(request: Request, bindings: EnvRecord, ctx: ExecutionContext): Promise<Response> {
    env = bindings;
    return platform.respond((started) => started.app.fetch(request, bindings, ctx));
  },

  scheduled(controller: ScheduledController, bindings: EnvRecord, ctx: ExecutionContext): void {
    ctx.waitUntil(cleanup(controller.cron, bindings));
  },
};
