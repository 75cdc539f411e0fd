// Serving the platform's app over Node's HTTP/1.1 server, for `mcp-baton/node`'s serve(): listening
// (with a one-line reason when it cannot), reading and dropping what the app left unread of a
// request body, and counting every exchange until its response has ended, so that a drain knows
// when the server is idle.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { serve as serveHttp, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import type { ExecutionContext, Hono } from 'hono';
import { DISCARD_LIMITS, discardUnread } from '../http/body.js';
import type { InFlight } from '../lifecycle/in-flight.js';

export interface HttpServer {
  readonly server: Server;
  /** The port it listens on. */
  readonly port: number;
  /** `http://<host>:<port>` (127.0.0.1 when listening on every address). */
  readonly url: string;
  /** Answers carry `Connection: close` from now on, so that clients open new connections elsewhere. */
  startDraining(): void;
  /** Stops listening; a connection still open is closed as soon as it falls idle. */
  stopAccepting(): void;
  /** Closes every connection still open. */
  closeConnections(): void;
}

/**
 * Listens on `host:port` (0 picks a free port) and counts every exchange in `inFlight`. Rejects
 * with an error whose message says in one line why it cannot listen.
 */
export async function listenHttp(app: Hono, options: { port: number; host: string; inFlight: InFlight }): Promise<HttpServer> {
  const { host } = options;
  const server = await listen(app, options.port, host);
  const drain: DrainState = { draining: false, closed: false };
  trackExchanges(server, options.inFlight, drain);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port,
    url: `http://${shown}:${port}`,
    startDraining: () => {
      drain.draining = true;
    },
    stopAccepting: () => {
      drain.closed = true;
      server.close();
    },
    closeConnections: () => server.closeAllConnections(),
  };
}

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

/**
 * The execution context every request gets on Node. Work goes on after a response here without
 * being handed to anyone, so waitUntil has nothing to do; it is given all the same because Hono
 * answers a request without one by throwing from `c.executionCtx`, and capturing that error's
 * stack cost some 15 µs of every request (a tenth of the SDK's whole tools/call).
 */
const NODE_CONTEXT: ExecutionContext = { waitUntil() {}, passThroughOnException() {}, props: {} };

/** Listens, or rejects with an error whose message says in one line why it cannot. */
function listen(app: Hono, port: number, host: string): Promise<Server> {
  // What the app left unread of a request body is read and dropped, within bounds (see
  // discardUnread): on a connection that stays open after the answer, while the answer goes out;
  // on one that closes after it, before, since Node closes it as soon as the answer is written.
  // This replaces @hono/node-server's own clean-up (autoCleanupIncoming), which gives up after
  // 500 ms, too soon for a large body on a busy machine. This server speaks HTTP/1.1 only (serve()
  // without createServer), so the bindings are IncomingMessage and ServerResponse.
  const fetch = async (request: Request, env: HttpBindings | Http2Bindings) => {
    const response = await app.fetch(request, env, NODE_CONTEXT);
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
    const server = serveHttp({ fetch, autoCleanupIncoming: false, port, hostname: host }, () => {
      server.off('error', onError);
      resolve(server);
    }) as Server;
    const onError = (error: NodeJS.ErrnoException) =>
      reject(Object.assign(new Error(listenProblem(error, host, port)), { code: error.code }));
    server.once('error', onError);
  });
}

function listenProblem(error: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `cannot listen on ${host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return `${where}: the port is in use by another process; stop that process, or set PORT (server.port) to a free port`;
    case 'EACCES':
      return `${where}: permission denied (ports below 1024 need privileges); set PORT (server.port) to 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `${where}: this machine has no such address; set HOST to one of its addresses, or to 0.0.0.0 for all`;
    default:
      return `${where}: ${error.message}`;
  }
}
