// Node entry: a long-running server for containers and Kubernetes. Wires the platform to
// @hono/node-server, signals and the cleanup interval; the sequences themselves live in
// src/lifecycle/.
//
// Readiness: 'starting' until the store is ready (migration check done), 'ready', then
// 'draining' from the first SIGTERM/SIGINT on. A second signal exits at once with 128 + the
// signal's number (130 for SIGINT, 143 for SIGTERM), without draining.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { serve, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { DISCARD_LIMITS, discardUnread } from '../http/body.js';
import { loadConfig } from '../config/load-file.js';
import { ConfigError } from '../config/errors.js';
import { createPlatform } from '../platform.js';
import { createLogger, parseLogLevel } from '../log.js';
import { openNodeDatabase } from '../db/open-node.js';
import { RequestTransport } from '../mcp/transport.js';
import { InFlight } from '../lifecycle/in-flight.js';
import { startCleanupSchedule, type CleanupSchedule } from '../lifecycle/cleanup-schedule.js';
import { shutdown } from '../lifecycle/shutdown.js';
import { waitForStore } from '../lifecycle/startup.js';

const logger = createLogger(parseLogLevel(process.env.LOG_LEVEL));

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };
/** Beyond the configured delays, how long closing the store may take before we give up. */
const CLOSE_ALLOWANCE_MS = 10_000;

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

async function start() {
  let loaded;
  try {
    loaded = loadConfig(process.env, process.cwd());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const { config, source } = loaded;
  let platform;
  try {
    platform = await createPlatform(config, { logger, openDatabase: openNodeDatabase });
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
  const inFlight = new InFlight();
  const listen = { fetch, autoCleanupIncoming: false, port: config.server.port, hostname: process.env.HOST ?? '0.0.0.0' };
  const server = serve(listen, (info) => {
    logger.info('listening', { port: info.port, store: config.sessions.store, config: source, toolsets: config.toolsets });
  }) as Server;
  const drain: DrainState = { draining: false, closed: false };
  trackExchanges(server, inFlight, drain);

  const starting = new AbortController();
  let cleanup: CleanupSchedule | undefined;
  let stopping = false;

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      const code = 128 + (SIGNAL_NUMBERS[signal] ?? 1);
      logger.warn('second signal, exiting now', { signal, code, inFlight: inFlight.count });
      process.exit(code);
    }
    stopping = true;
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
        closeConnections: () => server.closeAllConnections(),
        unfinishedRequests: () => RequestTransport.inFlightCount,
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

  const ready = await waitForStore(platform.store, { logger, signal: starting.signal });
  if (!ready || stopping) return;
  cleanup = startCleanupSchedule({ store: platform.store, intervalMs: config.sessions.cleanup_interval, logger });
  platform.readiness = 'ready';
  logger.info('ready', { store: platform.store.kind, cleanupIntervalMs: config.sessions.cleanup_interval });
}

await start();
