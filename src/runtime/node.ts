// Node entry: a long-running server for containers and Kubernetes. Wires the platform to
// @hono/node-server, signals and the cleanup interval; the sequences themselves live in
// src/lifecycle/.
//
// Readiness: 'starting' until the store is ready (migration check done), 'ready', then
// 'draining' from the first SIGTERM/SIGINT on. A second signal exits at once with 128 + the
// signal's number (130 for SIGINT, 143 for SIGTERM), without draining; a SIGINT within a second of
// a first one is the same Ctrl-C, which reaches the server twice under `npm start`.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { serve, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { DISCARD_LIMITS, discardUnread } from '../http/body.js';
import { loadConfig } from '../config/load-file.js';
import { ConfigError } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { createPlatform, type Platform } from '../platform.js';
import { createLogger, parseLogLevel, type Logger, type LogLevel } from '../log.js';
import { openNodeDatabase, nodeDriver } from '../db/open-node.js';
import { openNodeDatasource } from '../tools/data/open-node.js';
import { redactDsn } from '../db/problems.js';
import { StoreUnavailableError } from '../http/errors.js';
import type { InFlight } from '../lifecycle/in-flight.js';
import { startCleanupSchedule, type CleanupSchedule } from '../lifecycle/cleanup-schedule.js';
import { shutdown } from '../lifecycle/shutdown.js';
import { waitForStore } from '../lifecycle/startup.js';

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };
/** Beyond the configured delays, how long closing the store may take before we give up. */
const CLOSE_ALLOWANCE_MS = 10_000;
/**
 * Under `npm start` one Ctrl-C reaches the server twice: from the terminal, which signals the
 * whole foreground process group, and from npm, which passes on the SIGINT it got itself a few
 * milliseconds later. A SIGINT this soon after the first is that same key press.
 */
const SAME_CTRL_C_MS = 1_000;

interface DrainState {
  /** Readiness is 503; requests are still served. */
  draining: boolean;
  /** The server stopped listening. */
  closed: boolean;
}

/**
 * Counts every HTTP exchange until its response has ended (a streamed response when its stream
 * ends, or when the connection drops). While draining, answers carry `Connection: close`, so that
 * clients open new connections (to other instances, once the load balancer noticed); an idle
 * connection is not closed under a client that may be about to reuse it until the server stops
 * listening, and from then on as soon as it falls idle.
 */
function trackExchanges(server: Server, inFlight: InFlight, state: DrainState): void {
  // Prepended: it must see the response before the app's listener may have written its head.
  server.prependListener('request', (_request, response: ServerResponse) => {
    const leave = inFlight.enter();
    if (state.draining && !response.headersSent) response.setHeader('connection', 'close');
    response.once('close', () => {
      leave();
      if (state.closed) setImmediate(() => server.closeIdleConnections());
    });
  });
}

/** discardUnread for a body the app never touched, on Node's own stream; true when read to its end. */
function discardIncoming(incoming: IncomingMessage, limits = DISCARD_LIMITS): Promise<boolean> {
  if (incoming.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let dropped = 0;
    const finish = (whole: boolean) => {
      clearTimeout(timer);
      incoming.off('data', onData).off('end', onEnd).off('error', onError);
      // Past a bound: close the connection rather than read on.
      if (!whole) incoming.destroy();
      resolve(whole);
    };
    const onData = (chunk: Buffer) => {
      dropped += chunk.byteLength;
      if (dropped > limits.bytes) finish(false);
    };
    const onEnd = () => finish(true);
    // The connection went away: nothing left to read or to answer.
    const onError = () => finish(false);
    const timer = setTimeout(() => finish(false), limits.ms);
    incoming.on('data', onData).on('end', onEnd).on('error', onError);
    incoming.resume();
  });
}

/** Node closes the connection once this answer is written (the client or a drain asked for it). */
function closesAfterAnswer(response: ServerResponse): boolean {
  return !response.shouldKeepAlive || String(response.getHeader('connection') ?? '').toLowerCase() === 'close';
}

/** Reads a setting; a ConfigError is kept for the report, anything else is thrown. */
function attempt<T>(read: () => T, problems: ConfigError[]): T | undefined {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(error);
    return undefined;
  }
}

/** Listens, or says in one line why it cannot. */
function listen(platform: Platform, port: number, host: string): Promise<Server> {
  const app = platform.app;
  // What the app left unread of a request body is read and dropped, within bounds (see
  // discardUnread): on a connection that stays open after the answer, while the answer goes out;
  // on one that closes after it, before, since Node closes it as soon as the answer is written.
  // This replaces @hono/node-server's own clean-up (autoCleanupIncoming), which gives up after
  // 500 ms, too soon for a large body on a busy machine. This server speaks HTTP/1.1 only (serve()
  // without createServer), so the bindings are IncomingMessage and ServerResponse.
  const fetch = async (request: Request, env: HttpBindings | Http2Bindings) => {
    const response = await app.fetch(request, env);
    const incoming = env.incoming as IncomingMessage;
    // Complete: the whole request is off the wire (read by the app, or buffered); nothing to do.
    if (incoming.complete) return response;
    // A body the app began to read goes on through its web stream; one it never touched is read
    // from Node's stream (a web stream made now would stall: Node stops feeding it once the answer
    // is written, taking a body nobody had read for one it may throw away itself).
    const discarded = request.bodyUsed ? discardUnread(request) : discardIncoming(incoming);
    if (closesAfterAnswer(env.outgoing as ServerResponse)) await discarded;
    return response;
  };
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, autoCleanupIncoming: false, port, hostname: host }, () => {
      server.off('error', reject);
      resolve(server);
    }) as Server;
    server.once('error', reject);
  });
}

function listenProblem(error: unknown, host: string, port: number): string {
  const where = `cannot listen on ${host}:${port}`;
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return `${where}: the port is in use by another process; stop that process, or set PORT (server.port) to a free port`;
    case 'EACCES':
      return `${where}: permission denied (ports below 1024 need privileges); set PORT (server.port) to 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `${where}: this machine has no such address; set HOST to one of its addresses, or to 0.0.0.0 for all`;
    default:
      return `${where}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Where the session database is, as logs may say it. */
function databaseLocation(config: Config): string {
  return nodeDriver(config) === 'pglite' ? `${config.database.pglite_dir} (embedded PGlite)` : redactDsn(config.database.dsn);
}

async function start() {
  // LOG_LEVEL and the configuration are checked together: one report lists every problem.
  const problems: ConfigError[] = [];
  const level = attempt<LogLevel>(() => parseLogLevel(process.env.LOG_LEVEL), problems);
  const loaded = attempt(() => loadConfig(process.env, process.cwd()), problems);
  if (problems.length > 0 || level === undefined || loaded === undefined) {
    for (const problem of problems) console.error(problem.message);
    process.exit(2);
  }
  const logger: Logger = createLogger(level);
  const { config, source } = loaded;
  let platform: Platform;
  try {
    platform = await createPlatform(config, {
      logger,
      openDatabase: openNodeDatabase,
      openDatasource: openNodeDatasource,
      env: process.env,
    });
  } catch (error) {
    // Problems found while building (auth keys, toolsets, catalog) are configuration errors too.
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    logger.error('platform failed to start', { error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
  platform.readiness = 'starting';

  const inFlight = platform.instance.requests;
  const host = process.env.HOST ?? '0.0.0.0';
  let server: Server;
  try {
    server = await listen(platform, config.server.port, host);
  } catch (error) {
    logger.error(listenProblem(error, host, config.server.port), { code: (error as NodeJS.ErrnoException).code });
    await platform.close().catch((closing: unknown) => logger.warn('closing the store failed', { error: String(closing) }));
    process.exit(1);
  }
  const drain: DrainState = { draining: false, closed: false };
  trackExchanges(server, inFlight, drain);

  const starting = new AbortController();
  let cleanup: CleanupSchedule | undefined;
  let stopping: { signal: NodeJS.Signals; at: number } | undefined;

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (signal === 'SIGINT' && stopping.signal === 'SIGINT' && performance.now() - stopping.at < SAME_CTRL_C_MS) return;
      const code = 128 + (SIGNAL_NUMBERS[signal] ?? 1);
      logger.warn('second signal, exiting now', { signal, code, inFlight: inFlight.count });
      process.exit(code);
    }
    stopping = { signal, at: performance.now() };
    starting.abort();
    const { grace_period: gracePeriodMs, pre_shutdown_delay: preShutdownDelayMs } = config.server.shutdown;
    // Kubernetes kills at terminationGracePeriodSeconds anyway; this only bounds a hung close.
    setTimeout(
      () => {
        logger.error('shutdown did not complete in time, exiting');
        process.exit(1);
      },
      preShutdownDelayMs + gracePeriodMs + CLOSE_ALLOWANCE_MS,
    ).unref();
    shutdown(
      {
        preShutdownDelayMs,
        gracePeriodMs,
        logger,
        inFlight,
        markDraining: () => {
          platform.readiness = 'draining';
          drain.draining = true;
        },
        stopAccepting: () => {
          drain.closed = true;
          server.close();
        },
        endStreams: () => platform.closeStreams(),
        closeConnections: () => server.closeAllConnections(),
        unfinishedRequests: () => platform.instance.unfinishedRequests,
        stopCleanup: async () => cleanup?.stop(),
        closeStore: () => platform.close(),
      },
      signal,
    ).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  // Said once the signals are handled: whoever waits for this line may stop the server at once.
  const address = server.address();
  logger.info('listening', {
    port: typeof address === 'object' && address ? address.port : config.server.port,
    store: config.sessions.store,
    config: source,
    toolsets: platform.toolsets,
  });

  const ready = await waitForStore(platform.store, {
    logger,
    signal: starting.signal,
    ...(config.sessions.store === 'database' && { fields: { database: databaseLocation(config) } }),
    onFailure: (error) => {
      platform.readinessReason =
        error instanceof StoreUnavailableError ? error.publicMessage : 'the session store is not ready yet (the server log says why)';
    },
  });
  if (!ready || stopping) return;
  cleanup = startCleanupSchedule({ store: platform.store, intervalMs: config.sessions.cleanup_interval, logger });
  platform.readiness = 'ready';
  platform.readinessReason = undefined;
  logger.info('ready', { store: platform.store.kind, cleanupIntervalMs: config.sessions.cleanup_interval });
}

await start();
