// What every runtime entry of the public API shares: the options a user gives, how they become a
// configuration and a platform, and the `Baton` they get back. The entries (node.ts, worker.ts,
// vercel.ts) only say how their runtime opens a database and reads its settings.
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { ChangeNotifier } from '../channel/types.js';
import { ConfigError } from '../config/errors.js';
import { type EnvRecord, parseConfig, type RuntimeDefaults } from '../config/index.js';
import type { Config } from '../config/schema.js';
import { createLogger, type Logger, type LogLevel } from '../log.js';
import { createPlatform, type Platform, type PlatformOptions, type ToolsetSource } from '../platform.js';
import type { CleanupReport } from '../sessions/types.js';
import type { LazyPlatform } from './lazy.js';

/**
 * A configuration value as code writes it: the keys of baton.yaml (the README's configuration section), every
 * key optional, durations as milliseconds or as text ("10m"), lists as arrays or comma-separated
 * text.
 */
export type ConfigInput = {
  [Section in keyof Config]?: Config[Section] extends readonly unknown[] ? readonly string[] | string : SettingInput<Config[Section]>;
};

type SettingInput<T> = T extends number
  ? number | string
  : T extends string | boolean
    ? T
    : T extends readonly (infer Item)[]
      ? readonly SettingInput<Item>[] | string
      : T extends object
        ? { [Key in keyof T]?: SettingInput<T[Key]> }
        : T;

export interface BatonOptions {
  /** What the server calls itself to clients (`serverInfo`); default mcp-baton's own. */
  name?: string;
  /** The version it gives with its name. */
  version?: string;
  /**
   * Your toolsets: declared with `defineToolset`, built at start by a function of the platform's
   * services, or an SDK server's registration function through `fromSdkServer`. Built-in toolsets
   * (data, conformance, diagnostics) are served beside them only when `config.toolsets` names them.
   */
  toolsets?: ToolsetSource[];
  /**
   * Settings, with the keys of baton.yaml. When not given, each runtime reads its usual source
   * (Node: baton.yaml or BATON_CONFIG; Workers and Vercel: BATON_CONFIG_YAML).
   */
  config?: ConfigInput;
  /**
   * Environment overrides applied on top (DATABASE_URL, SESSIONS_STORE, PORT, ...; see
   * the README's configuration section). Node: `process.env` unless given; Workers: the bindings.
   */
  env?: EnvRecord;
  /** A logger (an object with debug/info/warn/error), or the least level written as JSON lines to stderr. */
  logger?: Logger | LogLevel;
}

/** A running mcp-baton: answers HTTP, sweeps expired sessions, announces changes. */
export interface Baton {
  /** Answers a web-standard request: /mcp, /healthz, /readyz and the OAuth metadata. */
  fetch(request: Request): Promise<Response>;
  /** Deletes expired and idle sessions (and old channel messages) once; what a cron job runs. */
  cleanup(): Promise<CleanupReport>;
  /** Announces list changes and resource updates to listening clients, on every instance. */
  readonly changes: ChangeNotifier;
  /** Resolves once the platform is built and its store can serve (migrations checked). */
  ready(): Promise<void>;
  /** Closes the store and whatever the toolsets opened. */
  close(): Promise<void>;
}

/** What a runtime entry contributes. */
export interface RuntimeSupport extends Pick<PlatformOptions, 'openDatabase' | 'openDatasource' | 'defaultOriginPolicy'> {
  /** Reads the configuration when the options give none, and says from where. */
  configFromSource(env: EnvRecord): { config: Config; source: string };
  defaults?: RuntimeDefaults;
}

const OPTIONS_SOURCE = 'createBaton options (config)';

/** The options' own configuration, or the runtime's usual one, and its source; throws ConfigError. */
export function resolveConfig(options: BatonOptions, env: EnvRecord, runtime: RuntimeSupport): { config: Config; source: string } {
  if (options.config === undefined) return runtime.configFromSource(env);
  return { config: parseConfig(options.config, env, OPTIONS_SOURCE, runtime.defaults), source: OPTIONS_SOURCE };
}

export function resolveLogger(logger: BatonOptions['logger'], fallback: LogLevel = 'info'): Logger {
  return typeof logger === 'object' ? logger : createLogger(logger ?? fallback);
}

export function serverInfo(options: BatonOptions): Implementation | undefined {
  if (options.name === undefined && options.version === undefined) return undefined;
  if (options.name === undefined || options.name.trim() === '')
    throw new ConfigError('createBaton', [{ path: 'name', message: 'a name is needed with a version' }]);
  return { name: options.name, version: options.version ?? '0.0.0' };
}

/** Builds a platform from the options, as the runtime would with its own defaults. */
export function buildPlatform(
  options: BatonOptions,
  env: EnvRecord,
  runtime: RuntimeSupport,
  logger: Logger,
  resolved = resolveConfig(options, env, runtime),
): Promise<Platform> {
  const info = serverInfo(options);
  return createPlatform(resolved.config, {
    logger,
    env,
    configSource: resolved.source,
    ...(options.toolsets && { toolsets: options.toolsets }),
    ...(info && { serverInfo: info }),
    ...(runtime.openDatabase && { openDatabase: runtime.openDatabase }),
    ...(runtime.openDatasource && { openDatasource: runtime.openDatasource }),
    ...(runtime.defaultOriginPolicy && { defaultOriginPolicy: runtime.defaultOriginPolicy }),
  });
}

/** A ChangeNotifier usable at once, over one that is made on first use (a platform's, a store's). */
export function deferredChanges(notifier: () => Promise<ChangeNotifier>): ChangeNotifier {
  return {
    toolsChanged: async () => (await notifier()).toolsChanged(),
    promptsChanged: async () => (await notifier()).promptsChanged(),
    resourcesChanged: async () => (await notifier()).resourcesChanged(),
    resourceUpdated: async (uri) => (await notifier()).resourceUpdated(uri),
  };
}

const platforms = new WeakMap<Baton, LazyPlatform>();

/** The platform behind a Baton, for the runtime entries' own wiring (never exported to users). */
export function platformOf(baton: Baton): Promise<Platform> {
  const lazy = platforms.get(baton);
  if (!lazy) throw new TypeError('not a Baton made by createBaton');
  return lazy.load();
}

/**
 * A Baton over a platform built on first use and kept. A failed build is not kept: `fetch`
 * answers 500 saying why, the other methods reject, and the next use tries again.
 */
export function batonOver(lazy: LazyPlatform): Baton {
  const baton: Baton = {
    fetch: (request) => lazy.respond((platform) => platform.app.fetch(request)),
    cleanup: async () => (await lazy.load()).store.cleanup(),
    changes: deferredChanges(async () => (await lazy.load()).changes),
    async ready() {
      await (await lazy.load()).store.ready?.();
    },
    close: () => lazy.close(),
  };
  platforms.set(baton, lazy);
  return baton;
}
