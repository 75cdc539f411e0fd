// Assembles the platform from a configuration: session store, toolsets, session handler and the
// HTTP app. Every runtime entry calls this and only adds its own wiring around it.
import type { Hono } from 'hono';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/errors.js';
import { namingVariables, type EnvRecord } from '../config/index.js';
import { createApp } from './app.js';
import { createAuthenticator } from '../auth/authenticate.js';
import { LOCALHOST_POLICY, OPEN_POLICY, type OriginPolicy } from '../http/origin-guard.js';
import { Registry, type ListChanges } from '../core/registry.js';
import { createSessionHandler } from '../era-2025/handler.js';
import { routeByEra } from './era.js';
import { cacheHints } from '../era-2026/caching.js';
import { createModernLeg } from '../era-2026/handler.js';
import { createRequestStateSeal, type KeySource, keyFromSecret, newKey } from '../era-2026/request-state.js';
import { Instance } from '../era-2025/instance.js';
import { newInstanceId } from '../era-2025/ids.js';
import { TaskRunner } from '../core/task-runner.js';
import { TaskTakeover } from '../core/task-takeover.js';
import { MemorySessionStore } from '../store/memory-store.js';
import { sessionLimits } from '../store/limits.js';
import type { SessionStore } from '../store/types.js';
import type { ChangeNotifier } from '../store/channel/types.js';
import { changeNotifier } from '../store/channel/changes.js';
import type { Database } from '../store/db/database.js';
import { type BuiltInServices, selectToolsets, type ToolsetSource } from '../tools/index.js';
import type { Toolset } from '../core/define.js';
import { openDefaultDatasource, type DatasourceOpener } from '../tools/data/datasource.js';
import { ContextProviders } from '../core/enrichment/context.js';
import { enrichmentMiddleware } from '../core/enrichment/middleware.js';
import { createLogger, errorText, type Logger } from '../log.js';
import { Readiness } from '../lifecycle/readiness.js';
import { Resources } from '../lifecycle/resources.js';
import { observeLiveSessions } from '../telemetry/sessions.js';
import { observeOpenStreams } from '../telemetry/streams.js';
import { observeTasks } from '../telemetry/tasks.js';

/** How long a task is kept after its creation (then swept by the cleanup). */
const TASK_TTL_MS = 60 * 60_000;
/** How often clients are asked to poll a task. */
const TASK_POLL_INTERVAL_MS = 500;
/**
 * Most tasks one look for tasks to take over claims: an instance that takes over a crashed one's
 * work starts it a batch per `tasks.takeover_interval`, not all at once.
 */
const TAKEOVER_BATCH = 25;

export interface PlatformOptions {
  logger?: Logger;
  /**
   * The owner's toolsets, served beside the built-in ones the configuration's `toolsets` names.
   * When this is given (even empty) and `toolsets` names none, no built-in toolset is served; only
   * without it does the default set apply.
   */
  toolsets?: ToolsetSource[];
  /** Where the configuration came from (a file, "environment", ...), for the start-up log. */
  configSource?: string;
  /** What the server calls itself (initialize's `serverInfo`); mcp-baton's own when not given. */
  serverInfo?: Implementation;
  /** Host/Origin policy when the configuration names none: localhost for a local server. */
  defaultOriginPolicy?: OriginPolicy;
  /**
   * A store made by the caller (tests, or a runtime that keeps one per isolate). The platform
   * owns it from then on: it closes it with itself, or when its build fails.
   */
  store?: SessionStore;
  /** How this runtime opens the database for `sessions.store: database`. */
  openDatabase?: (config: Config, logger: Logger) => Promise<Database>;
  /**
   * How this runtime opens the data toolset's datasource. Default: the Node server's (pg for a
   * DSN, else the embedded demo); Workers and Vercel pass their own (neon-http).
   */
  openDatasource?: DatasourceOpener;
  /** The clock of time-based decisions made per request (enrichment's entry_ttl), in ms. */
  now?: () => number;
  /**
   * The environment the configuration was read with: a problem found while building (auth,
   * toolsets) names the variable that set the key, as the configuration's own errors do.
   */
  env?: EnvRecord;
  /**
   * How long an answer is waited for to be sent whole instead of streamed (default 20 ms; see
   * src/era-2025/instance.ts). Tests set it so that they do not depend on the machine's speed.
   */
  answerHoldMs?: number;
}

export interface Platform {
  config: Config;
  /** Where the configuration came from, when the runtime said. */
  configSource: string | undefined;
  app: Hono;
  store: SessionStore;
  /** What this instance holds while it runs: restored servers, work in flight, streams. */
  instance: Instance;
  /** The tasks this instance runs (created, resumed or taken over here), under leases in the store. */
  tasks: TaskRunner;
  /**
   * Takes over the tasks of instances that are gone: `start()` looks every `tasks.takeover_interval`
   * (the Node server), `run()` looks once (cron handlers), `runIfDue()` at most once per interval
   * (requests on Workers and Vercel).
   */
  takeover: TaskTakeover;
  /**
   * Announces changes to every session's stream on every instance (list changes, resource
   * updates for subscribed sessions); the same as tools get as `ctx.changes`.
   */
  changes: ChangeNotifier;
  logger: Logger;
  /** The toolsets enabled, by name (the default set when the configuration names none). */
  toolsets: string[];
  /** Whether this instance wants traffic (/readyz); the entry that serves it moves it along. */
  readonly readiness: Readiness;
  /**
   * What the platform has opened, closed by close(); a runtime entry registers here what it opens
   * for the platform (timers).
   */
  readonly resources: Resources;
  /** Ends the event streams this instance serves (both eras), so that their clients reconnect elsewhere. */
  closeStreams(): void;
  /**
   * The drain's grace period is over: every call still served here (both eras) is handed over or
   * answered with an error saying a restart cut it off (docs/operations.md); resolves once written.
   */
  cutOffCalls(): Promise<void>;
  /**
   * Closes everything the platform opened, last opened first, each even when another failed;
   * rejects with an AggregateError naming each failure.
   */
  close(): Promise<void>;
}

export function originPolicy(config: Config, fallback: OriginPolicy): OriginPolicy {
  const { allowed_hosts: hosts, allowed_origins: origins } = config.server;
  return {
    hosts: hosts.length > 0 ? hosts.map((h) => h.toLowerCase()) : fallback.hosts,
    origins: origins.length > 0 ? origins.map((o) => o.toLowerCase()) : fallback.origins,
  };
}

export async function createStore(config: Config, openDatabase: PlatformOptions['openDatabase'], logger: Logger): Promise<SessionStore> {
  const limits = sessionLimits(config);
  const { retention: retentionMs, poll_interval: pollIntervalMs } = config.channel;
  if (config.sessions.store === 'memory') return new MemorySessionStore(limits, Date.now, { retentionMs });
  if (!openDatabase) throw new Error('sessions.store: "database" is not available on this runtime');
  // Loaded only for this store: a server on the memory store holds no query builder.
  const { DatabaseSessionStore } = await import('../store/database-store.js');
  return new DatabaseSessionStore(await openDatabase(config, logger), limits, {
    autoMigrate: config.database.auto_migrate,
    retentionMs,
    pollIntervalMs,
    logger,
  });
}

export async function createPlatform(config: Config, options: PlatformOptions = {}): Promise<Platform> {
  try {
    return await buildPlatform(config, options);
  } catch (error) {
    throw error instanceof ConfigError && options.env ? namingVariables(error, options.env) : error;
  }
}

async function buildPlatform(config: Config, options: PlatformOptions): Promise<Platform> {
  const logger = options.logger ?? createLogger();
  const resources = new Resources();
  try {
    return await assemble(config, options, logger, resources);
  } catch (error) {
    // What was opened before the failure is closed: Workers and Vercel build again on the next
    // request, and each failed build would otherwise keep its pool (or PGlite's folder) open.
    await resources.closeAll().catch((failure: unknown) => {
      logger.error('closing what a failed start had opened failed', { error: errorText(failure) });
    });
    throw error;
  }
}

/** Builds the platform; whatever it opens registers its closer with `resources` first. */
async function assemble(config: Config, options: PlatformOptions, logger: Logger, resources: Resources): Promise<Platform> {
  // Before the store: a configuration error in `auth` opens no database pool at all.
  const auth = await createAuthenticator({ auth: config.auth, bind: config.sessions.bind, logger });
  const context = new ContextProviders();
  const toolsets: Toolset[] = [];
  let closers = 0;
  /** Tells every client of the lists a toolset's update changed; set once the platform is built. */
  let announce: ((changes: ListChanges) => Promise<void>) | undefined;
  const services: BuiltInServices = {
    config,
    logger,
    context,
    openDatasource: options.openDatasource ?? openDefaultDatasource,
    // Toolsets may open things of their own (the data toolset's datasource).
    onClose: (close) => resources.add(`toolset closer ${++closers}`, close),
    async update(toolset) {
      // A factory gives its first contents by returning them.
      if (!announce) throw new Error(`toolset "${toolset.name}" can be updated only once the platform has started`);
      await announce(registry.update(toolset));
    },
  };
  const own = options.toolsets;
  if (own === undefined || config.toolsets.length > 0) toolsets.push(...(await selectToolsets(config.toolsets, services)));
  for (const source of own ?? []) toolsets.push(typeof source === 'function' ? await source(services) : source);
  // Before the store: two toolsets declaring one name open no database pool at all.
  const registry = new Registry(
    toolsets,
    [enrichmentMiddleware({ dedup: config.enrichment.session_dedup, providers: context, logger, now: options.now })],
    options.serverInfo,
  );
  const store = options.store ?? (await createStore(config, options.openDatabase, logger));
  resources.add('session store', () => store.close());
  resources.add(
    'live sessions gauge',
    observeLiveSessions(() => store.countLive()),
  );
  resources.add(
    'tasks gauge',
    observeTasks(() => store.tasks.countByStatus()),
  );
  // Streams on a polling channel cost reads while they are open: they are closed after a while
  // unless configured otherwise, and clients resume them (docs/operations.md).
  const streamTimeoutMs = config.channel.stream_timeout ?? (store.channel.delivery === 'poll' ? 60_000 : 0);
  // The runner holds task leases in the instance's name: both eras' tasks run here under it.
  const instanceId = newInstanceId();
  const runner = new TaskRunner({
    tasks: store.tasks,
    channel: store.channel,
    registry,
    owner: instanceId,
    leaseMs: config.tasks.lease,
    changes: changeNotifier(store.channel),
    logger,
  });
  const instance = new Instance({
    id: instanceId,
    store,
    registry,
    logger,
    streams: { retryMs: config.channel.retry, timeoutMs: streamTimeoutMs },
    tasks: { store: store.tasks, runner, channel: store.channel, ttlMs: TASK_TTL_MS, pollIntervalMs: TASK_POLL_INTERVAL_MS },
    ...(options.answerHoldMs !== undefined && { holdMs: options.answerHoldMs }),
  });
  resources.add('instance (servers, streams, requests)', () => instance.close());
  announce = async (changes) => {
    if (changes.tools) await instance.changes.toolsChanged();
    if (changes.prompts) await instance.changes.promptsChanged();
    if (changes.resources) await instance.changes.resourcesChanged();
  };
  const sessions = createSessionHandler({ store, instance, maxBodyBytes: config.server.max_body_bytes, logger });
  // Closed after the takeover (registered later), before the store: the drain lets go of its leases.
  resources.add('task runner', () => runner.close());
  const readiness = new Readiness();
  const takeover = new TaskTakeover({
    tasks: store.tasks,
    runner,
    intervalMs: config.tasks.takeover_interval,
    batch: TAKEOVER_BATCH,
    active: () => readiness.state !== 'draining',
    logger,
  });
  resources.add('task takeover', () => takeover.close());
  const modern = createModernLeg({
    registry,
    seal: createRequestStateSeal(requestStateKeys(config, store), config.request_state.ttl),
    caching: cacheHints(config.caching, registry),
    channel: store.channel,
    changes: instance.changes,
    maxBodyBytes: config.server.max_body_bytes,
    listenTimeoutMs: streamTimeoutMs,
    tasks: { store: store.tasks, runner, ttlMs: TASK_TTL_MS, pollIntervalMs: TASK_POLL_INTERVAL_MS },
    logger,
  });
  resources.add('2026-07-28 leg', () => modern.close());
  resources.add(
    'open streams gauge',
    observeOpenStreams(() => ({ session: instance.streams.size, listen: modern.openStreams })),
  );
  return {
    config,
    configSource: options.configSource,
    store,
    instance,
    tasks: runner,
    takeover,
    changes: instance.changes,
    logger,
    toolsets: toolsets.map((toolset) => toolset.name),
    readiness,
    resources,
    closeStreams() {
      instance.closeStreams();
      modern.closeStreams();
    },
    async cutOffCalls() {
      await Promise.all([instance.cutOffCalls(), modern.cutOffCalls()]);
    },
    app: createApp({
      mcp: routeByEra({ sessions, modern, maxBodyBytes: config.server.max_body_bytes }),
      auth,
      logger,
      originPolicy: originPolicy(config, options.defaultOriginPolicy ?? LOCALHOST_POLICY),
      readiness,
    }),
    close: () => resources.closeAll(),
  };
}

/**
 * The keys that sign requestState: the configured secret, else one generated once and shared
 * through the store (the memory store keeps it for the process); previous secrets still verify.
 */
function requestStateKeys(config: Config, store: SessionStore): KeySource {
  const { secret, previous_secrets: previous } = config.request_state;
  const older = previous.map(keyFromSecret);
  if (secret !== '') return async () => [keyFromSecret(secret), ...older];
  return async () => {
    const made = btoa(String.fromCharCode(...newKey()));
    const shared = await store.sharedSecret('request_state', made);
    return [keyFromSecret(`base64:${shared}`), ...older];
  };
}

export { OPEN_POLICY };
