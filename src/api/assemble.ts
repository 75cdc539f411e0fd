// How the options of the public API become a platform, shared by the runtime entries (node.ts,
// edge.ts), which only say how their runtime opens a database and reads its settings. Internal:
// nothing here is exported to users.
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { ExecutionContext } from 'hono';
import type { WaitUntil } from '../core/task-runner.js';
import { deferredChanges } from '../store/channel/changes.js';
import { ConfigError } from '../config/errors.js';
import { type EnvRecord, parseConfig, type RuntimeDefaults } from '../config/index.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { createPlatform, type Platform, type PlatformOptions } from '../platform/platform.js';
import type { Baton, BatonOptions } from './baton.js';
import type { LazyPlatform } from './lazy.js';

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

const platforms = new WeakMap<Baton, LazyPlatform>();

/** The platform behind a Baton, for the runtime entries' own wiring (never exported to users). */
export function platformOf(baton: Baton): Promise<Platform> {
  const lazy = platforms.get(baton);
  if (!lazy) throw new TypeError('not a Baton made by createBaton');
  return lazy.load();
}

/**
 * Answers a request as `baton.fetch` does, with the runtime's waitUntil for it (a Worker's
 * `ctx.waitUntil`): work the request starts that outlives its response (a task's run) is handed to
 * it, so that the runtime does not stop that work with the request.
 */
export function fetchWithWaitUntil(baton: Baton, request: Request, waitUntil: WaitUntil): Promise<Response> {
  const lazy = platforms.get(baton);
  if (!lazy) throw new TypeError('not a Baton made by createBaton');
  // Hono's shape of an execution context; the app uses only its waitUntil.
  const executionCtx: ExecutionContext = { waitUntil, passThroughOnException() {}, props: {} };
  return lazy.respond((platform) => platform.app.fetch(request, undefined, executionCtx));
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
