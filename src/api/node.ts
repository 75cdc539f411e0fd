// `mcp-baton/node`: mcp-baton in a Node process (a container, Kubernetes, a VM). `createBaton`
// builds the platform at once, so that a bad setting fails the start; `serve` listens, reports
// ready once the store can serve, sweeps expired sessions on an interval, and on SIGTERM, SIGINT or
// SIGHUP drains as docs/operations.md describes (the HTTP serving itself is ./node-http.ts). `createAdmin` is
// what the `baton` command line runs on.
import type { Server } from 'node:http';
import { ConfigError } from '../config/errors.js';
import type { EnvRecord } from '../config/index.js';
import { loadConfig } from '../config/load-file.js';
import type { Config } from '../config/schema.js';
import { nodeDriver, openNodeDatabase } from '../store/db/open-node.js';
import { redactDsn } from '../store/db/problems.js';
import { StoreUnavailableError } from '../store/errors.js';
import { startCleanupSchedule, type CleanupSchedule } from '../lifecycle/cleanup-schedule.js';
import { shutdown, type ShutdownReport } from '../lifecycle/shutdown.js';
import { handleStopSignals } from '../lifecycle/signals.js';
import { waitForStore } from '../lifecycle/startup.js';
import { openNodeDatasource } from '../tools/data/open-node.js';
import { batonOver, buildPlatform, platformOf, resolveConfig, type RuntimeSupport } from './assemble.js';
import type { Baton, BatonOptions } from './baton.js';
import { lazyPlatform } from './lazy.js';
import { loggerFor } from '../log.js';
import { listenHttp } from './node-http.js';

export { createAdmin, type Admin, type AdminOptions, type AdminTask, type AdminTaskPage } from './admin.js';

export interface NodeBatonOptions extends BatonOptions {
  /** Where baton.yaml (or a relative BATON_CONFIG) is looked for when `config` is not given; default the working directory. */
  cwd?: string;
}

const nodeRuntime = (cwd: string): RuntimeSupport => ({
  configFromSource: (env) => loadConfig(env, cwd),
  openDatabase: openNodeDatabase,
  openDatasource: openNodeDatasource,
});

/**
 * Builds mcp-baton now: reads the configuration (the options' `config`, else baton.yaml /
 * BATON_CONFIG / BATON_CONFIG_YAML, with the overrides of `process.env` and the options' `env`),
 * builds your toolsets and opens the session store. Throws ConfigError listing
 * every problem of the settings (LOG_LEVEL included).
 */
export async function createBaton(options: NodeBatonOptions = {}): Promise<Baton> {
  const env: EnvRecord = { ...process.env, ...options.env };
  const runtime = nodeRuntime(options.cwd ?? process.cwd());
  // The logger's level and the settings are checked together: one report names every problem.
  const problems: ConfigError[] = [];
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error);
      return undefined;
    }
  };
  const logger = attempt(() => loggerFor(options.logger, env));
  const resolved = attempt(() => resolveConfig(options, env, runtime));
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1 || !logger || !resolved) {
    throw new ConfigError(
      problems.map((problem) => problem.source).join(', '),
      problems.flatMap((problem) => problem.issues),
    );
  }
  // Built here, once; the Baton keeps it until close(), after which it serves no more.
  const platform = await buildPlatform(options, env, runtime, logger, resolved);
  const lazy = lazyPlatform(
    async () => platform,
    () => logger,
  );
  await lazy.load();
  return batonOver(lazy);
}

export interface ServeOptions {
  /** Default: the configuration's `server.port` (PORT). 0 picks a free port. */
  port?: number;
  /** Default: HOST from the environment, else 0.0.0.0 (every address). */
  host?: string;
  /**
   * SIGTERM, SIGINT and SIGHUP run the shutdown sequence, then end the process: exit code 0 when
   * it completed, 1 when it failed. The same signal again within a second is the same stop (a
   * process group signalled, and npm passing its copy on); a different one, or the same one later,
   * exits at once with 128 + its number. Default true; without it, call `shutdown()` yourself.
   */
  handleSignals?: boolean;
  /**
   * The shutdown's last step, after the store closed and before the process exits (a signal's
   * exit waits for it): flush what is still buffered, such as an OpenTelemetry SDK's spans
   * (`sdk.shutdown()`). A failure is logged; the shutdown still counts as completed.
   */
  onShutdown?: () => Promise<void>;
}

export interface NodeServer {
  readonly server: Server;
  /** The port it listens on. */
  readonly port: number;
  /** `http://<host>:<port>` (127.0.0.1 when listening on every address). */
  readonly url: string;
  /**
   * Drains and stops: readiness turns 503, new connections go elsewhere, requests in flight get
   * `server.shutdown.grace_period` to finish, streams end with a resume point, then the store
   * closes. The process is left running.
   */
  shutdown(reason?: string): Promise<ShutdownReport>;
}

/** Beyond the configured delays, how long closing the store may take before we give up. */
const CLOSE_ALLOWANCE_MS = 10_000;

/** Where the session database is, as logs may say it. */
function databaseLocation(config: Config): string {
  return nodeDriver(config) === 'pglite' ? `${config.database.pglite_dir} (embedded PGlite)` : redactDsn(config.database.dsn);
}

/**
 * Serves a Baton over HTTP/1.1. Readiness (/readyz) is 'starting' until the store can serve (the
 * database is retried meanwhile, the process stays alive), then 'ready', and 'draining' from
 * shutdown on. Rejects when it cannot listen (the message says why); the Baton is left open.
 */
export async function serve(baton: Baton, options: ServeOptions = {}): Promise<NodeServer> {
  const platform = await platformOf(baton);
  const { config, logger } = platform;
  platform.readiness.markStarting();
  const inFlight = platform.instance.requests;
  const host = options.host ?? process.env.HOST ?? '0.0.0.0';
  const http = await listenHttp(platform.app, { port: options.port ?? config.server.port, host, inFlight });

  const starting = new AbortController();
  // A Baton closed without shutdown() stops retrying its store as well.
  platform.resources.add('start-up wait', () => starting.abort());
  let cleanup: CleanupSchedule | undefined;
  let stopping: Promise<ShutdownReport> | undefined;
  let removeSignalHandlers = () => {};
  const { grace_period: gracePeriodMs, pre_shutdown_delay: preShutdownDelayMs } = config.server.shutdown;
  const stop = (reason: string) =>
    (stopping ??= (() => {
      starting.abort();
      return shutdown(
        {
          preShutdownDelayMs,
          gracePeriodMs,
          logger,
          inFlight,
          markDraining: () => {
            platform.readiness.markDraining();
            http.startDraining();
          },
          stopAccepting: () => http.stopAccepting(),
          endStreams: () => platform.closeStreams(),
          handOverCalls: () => platform.instance.drainCalls(),
          cutOffCalls: () => platform.cutOffCalls(),
          closeConnections: () => http.closeConnections(),
          unfinishedRequests: () => platform.instance.unfinishedRequests,
          stopCleanup: async () => cleanup?.stop(),
          closeStore: () => baton.close(),
          ...(options.onShutdown && { onShutdown: options.onShutdown }),
        },
        reason,
      ).finally(() => removeSignalHandlers());
    })());

  if (options.handleSignals ?? true) {
    removeSignalHandlers = handleStopSignals({
      stop,
      logger,
      inFlight: () => inFlight.count,
      deadlineMs: preShutdownDelayMs + gracePeriodMs + CLOSE_ALLOWANCE_MS,
    });
  }

  // Said once the signals are handled: whoever waits for this line may stop the server at once.
  logger.info('listening', { port: http.port, store: config.sessions.store, config: platform.configSource, toolsets: platform.toolsets });

  void waitForStore(platform.store, {
    logger,
    signal: starting.signal,
    ...(config.sessions.store === 'database' && { fields: { database: databaseLocation(config) } }),
    onFailure: (error) => {
      platform.readiness.setNotReadyReason(
        error instanceof StoreUnavailableError ? error.publicMessage : 'the session store is not ready yet (the server log says why)',
      );
    },
  }).then((ready) => {
    if (!ready) {
      logger.info('stopped before the session store was ready');
      return;
    }
    if (stopping || platform.resources.closed) return;
    const schedule = startCleanupSchedule({ store: platform.store, intervalMs: config.sessions.cleanup_interval, logger });
    platform.resources.add('cleanup schedule', () => schedule.stop());
    cleanup = schedule;
    // Tasks of instances that are gone run again, or fail, here (closed with the platform).
    platform.takeover.start();
    platform.readiness.markReady();
    logger.info('ready', { store: platform.store.kind, cleanupIntervalMs: config.sessions.cleanup_interval });
  });

  return { server: http.server, port: http.port, url: http.url, shutdown: (reason = 'shutdown()') => stop(reason) };
}
