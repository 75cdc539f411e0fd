// Assembles the platform from a configuration: session store, toolsets, session handler and the
// HTTP app. Every runtime entry calls this and only adds its own wiring around it.
import type { Hono } from 'hono';
import type { Config } from './config/schema.js';
import { createApp, type Readiness } from './app.js';
import { createAuthenticator } from './auth/authenticate.js';
import { LOCALHOST_POLICY, OPEN_POLICY, type OriginPolicy } from './http/origin-guard.js';
import { Registry } from './mcp/registry.js';
import { createSessionHandler } from './sessions/handler.js';
import { MemorySessionStore } from './sessions/memory-store.js';
import type { SessionLimits, SessionStore } from './sessions/types.js';
import { DatabaseSessionStore } from './sessions/database-store.js';
import type { Database } from './db/database.js';
import { selectToolsets } from './tools/index.js';
import { openDefaultDatasource, type DatasourceOpener } from './tools/data/datasource.js';
import { ContextProviders } from './enrichment/context.js';
import { enrichmentMiddleware } from './enrichment/middleware.js';
import { createLogger, type Logger } from './log.js';

export interface PlatformOptions {
  logger?: Logger;
  /** Host/Origin policy when the configuration names none: localhost for a local server. */
  defaultOriginPolicy?: OriginPolicy;
  /** A store made by the caller (tests, or a runtime that keeps one per isolate). */
  store?: SessionStore;
  /** How this runtime opens the database for `sessions.store: database`. */
  openDatabase?: (config: Config, logger: Logger) => Promise<Database>;
  /**
   * How this runtime opens the data toolset's datasource. Default: the Node server's (pg for a
   * DSN, else the embedded demo); Workers and Vercel pass their own (neon-http).
   */
  openDatasource?: DatasourceOpener;
}

export interface Platform {
  config: Config;
  app: Hono;
  store: SessionStore;
  logger: Logger;
  readiness: Readiness;
  close(): Promise<void>;
}

export function originPolicy(config: Config, fallback: OriginPolicy): OriginPolicy {
  const { allowed_hosts: hosts, allowed_origins: origins } = config.server;
  return {
    hosts: hosts.length > 0 ? hosts.map((h) => h.toLowerCase()) : fallback.hosts,
    origins: origins.length > 0 ? origins.map((o) => o.toLowerCase()) : fallback.origins,
  };
}

/** The store's limits from the configuration (the command line's stores use the same). */
export function sessionLimits(config: Config): SessionLimits {
  return {
    ttlMs: config.sessions.ttl,
    idleTimeoutMs: config.sessions.idle_timeout,
    maxInitializeBytes: config.sessions.max_initialize_bytes,
    maxPerCredential: config.sessions.max_per_credential,
  };
}

export async function createStore(config: Config, openDatabase: PlatformOptions['openDatabase'], logger: Logger): Promise<SessionStore> {
  const limits = sessionLimits(config);
  if (config.sessions.store === 'memory') return new MemorySessionStore(limits);
  if (!openDatabase) throw new Error('sessions.store: "database" is not available on this runtime');
  return new DatabaseSessionStore(await openDatabase(config, logger), limits, { autoMigrate: config.database.auto_migrate });
}

export async function createPlatform(config: Config, options: PlatformOptions = {}): Promise<Platform> {
  const logger = options.logger ?? createLogger();
  // Before the store: a configuration error in `auth` must not leave a database pool open.
  const auth = await createAuthenticator({ auth: config.auth, bind: config.sessions.bind, logger });
  // Toolsets may open things of their own (the data toolset's datasource); a failure later in
  // start-up closes them again.
  const context = new ContextProviders();
  const closers: (() => Promise<void>)[] = [];
  const closeToolsets = async () => void (await Promise.all(closers.map((close) => close())));
  let toolsets;
  let store: SessionStore;
  try {
    toolsets = await selectToolsets(config.toolsets, {
      config,
      logger,
      context,
      openDatasource: options.openDatasource ?? openDefaultDatasource,
      onClose: (close) => closers.push(close),
    });
    store = options.store ?? (await createStore(config, options.openDatabase, logger));
  } catch (error) {
    await closeToolsets();
    throw error;
  }
  const registry = new Registry(toolsets, [enrichmentMiddleware({ dedup: config.enrichment.session_dedup, providers: context, logger })]);
  const handler = createSessionHandler({ store, registry, maxBodyBytes: config.server.max_body_bytes, logger });
  const platform: Platform = {
    config,
    store,
    logger,
    readiness: 'ready',
    app: createApp({
      handler,
      auth,
      logger,
      originPolicy: originPolicy(config, options.defaultOriginPolicy ?? LOCALHOST_POLICY),
      readiness: () => platform.readiness,
    }),
    async close() {
      await closeToolsets();
      await store.close();
    },
  };
  return platform;
}

export { OPEN_POLICY };
