// The transport a session's MCP server talks to. A server is connected to one RequestTransport
// for its whole life, and serves one HTTP exchange at a time: each exchange attaches the SDK's
// web-standard HTTP transport of its request. Between exchanges the server waits in the session's
// pool (src/mcp/server-pool.ts), already restored, for that session's next request on this
// instance. On top of relaying, the transport adds what a server that outlives no process needs:
//  - restore: replays the session's stored `initialize` through the server itself, so the server
//    holds the negotiated client capabilities exactly as if it had lived the whole session;
//  - write-back: runs a hook (saving changed session state) before the last response of the HTTP
//    request leaves, so the client never sees a result whose state was not stored;
//  - routing: server-to-client requests get ids unique in this process, so that the client's
//    reply, which arrives in a later HTTP request, can be delivered to the server waiting for it;
//  - separation: the server sees the client's requests under ids unique in this process too, so
//    that whatever a tool sends after its request was answered is refused instead of landing in
//    a later request of the session that happens to reuse the same id.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  ErrorCode,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResponse,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

let nextOutgoingId = 1;
let nextInternalId = 1;
/** Server-to-client requests waiting for a reply, by their process-unique id. */
const awaitingReply = new Map<number, Exchange>();
/** Client requests in flight, by session, so that `notifications/cancelled` can reach them. */
const inFlight = new Map<string, Map<RequestId, RequestTransport>>();

const RESTORE_ID = '__baton_restore__';

// Structural checks: every message here was validated on the way in (client messages by the
// SDK transport) or built by the SDK server itself, so re-validating with zod would only cost.
function isResponse(message: JSONRPCMessage): message is JSONRPCResponse {
  return 'result' in message || 'error' in message;
}

function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return 'method' in message && 'id' in message;
}

export interface ExchangeOptions {
  /** Ids of the client requests this HTTP request carries. */
  requestIds: RequestId[];
  /** Runs before the last response is sent; an error turns that response into an error. */
  beforeLastResponse?: () => Promise<void>;
  /**
   * Runs when the server sends something other than a response (a notification, a request to
   * the client): from then on the answer is a stream.
   */
  onStreaming?: () => void;
  /**
   * Runs once the exchange is over. `reusable` is true when the server is free for another
   * exchange: everything was answered (or nothing reached the server) and the transport is open.
   */
  onDone?: (reusable: boolean) => void;
}

/** One HTTP request's share of the transport. */
interface Exchange {
  readonly transport: RequestTransport;
  readonly inner: WebStandardStreamableHTTPServerTransport;
  readonly options: ExchangeOptions;
  /** Client requests not answered yet, by the client's ids. */
  readonly open: Set<RequestId>;
  /** The ids the server sees for the client's requests → the client's own. */
  readonly clientIds: Map<string, RequestId>;
  /** The client's ids → the ids the server sees. */
  readonly internalIds: Map<RequestId, string>;
  /** Server-to-client requests sent in this exchange: process-unique id → the server's own id. */
  readonly outgoing: Map<number, RequestId>;
  done: boolean;
}

export class RequestTransport implements Transport {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly sessionId: string;

  #exchange: Exchange | undefined;
  #restore: ((response: JSONRPCResponse) => void) | undefined;
  #closed = false;

  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }

  /** Nothing to start: each exchange starts its own HTTP transport in `attach`. */
  async start(): Promise<void> {}

  /** Feeds the stored `initialize` to the server and waits for it to be processed. */
  async restore(initialize: Omit<JSONRPCRequest, 'id' | 'jsonrpc'>): Promise<void> {
    const answered = new Promise<JSONRPCResponse>((resolve) => (this.#restore = resolve));
    this.onmessage?.({ jsonrpc: '2.0', id: RESTORE_ID, ...initialize } as JSONRPCMessage);
    const response = await answered;
    this.#restore = undefined;
    if ('error' in response) throw new Error(`restoring the session failed: ${JSON.stringify(response.error)}`);
  }

  /** Serves one HTTP request: its messages reach the server, the server's messages go back on it. */
  async attach(inner: WebStandardStreamableHTTPServerTransport, options: ExchangeOptions): Promise<void> {
    if (this.#closed) throw new Error('the transport is closed');
    if (this.#exchange) throw new Error('the server is already serving a request');
    const exchange: Exchange = {
      transport: this,
      inner,
      options,
      open: new Set(options.requestIds),
      clientIds: new Map(),
      internalIds: new Map(),
      outgoing: new Map(),
      done: false,
    };
    this.#exchange = exchange;
    let live = inFlight.get(this.sessionId);
    if (!live) inFlight.set(this.sessionId, (live = new Map()));
    for (const id of options.requestIds) live.set(id, this);
    inner.onmessage = (message, extra) => {
      if (isRequest(message)) {
        const internal = `~${nextInternalId++}`;
        exchange.clientIds.set(internal, message.id);
        exchange.internalIds.set(message.id, internal);
        message = { ...message, id: internal };
      }
      this.onmessage?.(message, extra);
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => this.#finish(exchange, false);
    await inner.start();
  }

  /**
   * Ends the current exchange without an answer having passed through here: the HTTP transport
   * answered the request itself (it refused it before any message reached the server).
   */
  detach(): void {
    if (this.#exchange) this.#finish(this.#exchange, true);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message) ? message : undefined;
    if (response && response.id === RESTORE_ID && this.#restore) {
      this.#restore(response);
      return;
    }
    // Whatever the server sends belongs to a client request of the current exchange; a message
    // of an exchange that is over (work a tool left running after its answer) has nowhere to go.
    const exchange = this.#exchange;
    const related = response ? response.id : options?.relatedRequestId;
    const clientId = related === undefined ? undefined : exchange?.clientIds.get(String(related));
    if (!exchange || (related !== undefined && clientId === undefined)) {
      throw new Error('Not connected: the request this message belongs to was already answered');
    }
    if (!response) {
      exchange.options.onStreaming?.();
      if (clientId !== undefined) options = { ...options, relatedRequestId: clientId };
    }
    if (isRequest(message)) {
      const id = nextOutgoingId++;
      exchange.outgoing.set(id, message.id);
      awaitingReply.set(id, exchange);
      return exchange.inner.send({ ...message, id }, options);
    }
    if (!response || clientId === undefined) return exchange.inner.send(message, options);

    const id = clientId;
    message = { ...response, id };
    exchange.open.delete(id);
    inFlight.get(this.sessionId)?.delete(id);
    const last = exchange.open.size === 0;
    try {
      if (last && exchange.options.beforeLastResponse) {
        try {
          await exchange.options.beforeLastResponse();
        } catch (error) {
          this.#report(error);
          message = {
            jsonrpc: '2.0',
            id,
            error: {
              code: ErrorCode.InternalError,
              message: 'Session state could not be saved; the request was not completed. Retry later.',
            },
          };
        }
      }
      await exchange.inner.send(message, options);
    } finally {
      if (last) this.#finish(exchange, true);
    }
  }

  #report(error: unknown): void {
    this.onerror?.(error instanceof Error ? error : new Error(String(error)));
  }

  #finish(exchange: Exchange, answered: boolean): void {
    if (exchange.done) return;
    exchange.done = true;
    if (this.#exchange === exchange) this.#exchange = undefined;
    for (const id of exchange.outgoing.keys()) awaitingReply.delete(id);
    const live = inFlight.get(this.sessionId);
    if (live) {
      for (const id of exchange.open) if (live.get(id) === this) live.delete(id);
      if (live.size === 0) inFlight.delete(this.sessionId);
    }
    exchange.options.onDone?.(answered && !this.#closed);
  }

  /**
   * A client request of the current exchange was cancelled: the server sends no answer to it
   * (the protocol says so), so it counts as answered here. When it was the last one, the
   * exchange ends like any other: state saved, stream closed.
   */
  async #cancelled(clientId: RequestId): Promise<void> {
    const exchange = this.#exchange;
    if (!exchange?.open.delete(clientId)) return;
    inFlight.get(this.sessionId)?.delete(clientId);
    if (exchange.open.size > 0) return;
    try {
      await exchange.options.beforeLastResponse?.();
    } catch (error) {
      this.#report(error);
    }
    exchange.inner.closeSSEStream(clientId);
    this.#finish(exchange, true);
  }

  /** Ends the current exchange and lets go of the server for good (the session was deleted). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exchange = this.#exchange;
    if (exchange) {
      this.#finish(exchange, false);
      await exchange.inner.close();
    }
    // The server aborts what it still runs for this session.
    this.onclose?.();
  }

  /**
   * Routes messages that answer or cancel work in flight on this instance: replies to
   * server-to-client requests, and `notifications/cancelled`. Returns the messages it did not
   * route. Only transports of the same session are considered.
   */
  static route(sessionId: string, messages: JSONRPCMessage[]): JSONRPCMessage[] {
    const rest: JSONRPCMessage[] = [];
    for (const message of messages) {
      if (isResponse(message)) {
        const id = typeof message.id === 'number' ? message.id : Number(message.id);
        const exchange = awaitingReply.get(id);
        if (exchange && exchange.transport.sessionId === sessionId) {
          deliverReply(exchange, message, id);
          continue;
        }
      } else if ('method' in message && message.method === 'notifications/cancelled') {
        const requestId = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        const transport = requestId === undefined ? undefined : inFlight.get(sessionId)?.get(requestId);
        const internal = requestId === undefined || !transport ? undefined : transport.#exchange?.internalIds.get(requestId);
        if (transport && internal !== undefined) {
          transport.onmessage?.({ ...message, params: { ...message.params, requestId: internal } } as JSONRPCMessage);
          void transport.#cancelled(requestId!);
          continue;
        }
      }
      rest.push(message);
    }
    return rest;
  }

  /** Closes everything in flight for a session (it was deleted). */
  static async closeSession(sessionId: string): Promise<void> {
    const live = inFlight.get(sessionId);
    if (!live) return;
    await Promise.all([...new Set(live.values())].map((t) => t.close()));
  }

  /** How many client requests are being served right now (for draining on shutdown). */
  static get inFlightCount(): number {
    let count = 0;
    for (const live of inFlight.values()) count += live.size;
    return count;
  }
}

/** Delivers the client's reply to a server-to-client request, under the server's own id. */
function deliverReply(exchange: Exchange, reply: JSONRPCResponse, uniqueId: number): void {
  const original = exchange.outgoing.get(uniqueId);
  if (original === undefined) return;
  exchange.outgoing.delete(uniqueId);
  awaitingReply.delete(uniqueId);
  exchange.transport.onmessage?.({ ...reply, id: original } as JSONRPCMessage);
}
