// The transport a per-request server talks to. It sits between the SDK server and the SDK's
// web-standard HTTP transport and adds the three things a server rebuilt for every request needs:
//  - restore: replays the session's stored `initialize` through the server itself, so the server
//    holds the negotiated client capabilities exactly as if it had lived the whole session;
//  - write-back: runs a hook (saving changed session state) before the last response of the HTTP
//    request leaves, so the client never sees a result whose state was not stored;
//  - routing: server-to-client requests get ids unique in this process, so that the client's
//    reply, which arrives in a later HTTP request, can be delivered to the server waiting for it.
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
/** Server-to-client requests waiting for a reply, by their process-unique id. */
const awaitingReply = new Map<number, RequestTransport>();
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

export interface RequestTransportOptions {
  sessionId: string;
  /** Ids of the client requests this HTTP request carries. */
  requestIds: RequestId[];
  /** Runs before the last response is sent; an error turns that response into an error. */
  beforeLastResponse?: () => Promise<void>;
  /** Runs once everything is answered (or the transport closes). */
  onDone?: () => void;
}

export class RequestTransport implements Transport {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly sessionId: string;

  readonly #inner: WebStandardStreamableHTTPServerTransport;
  readonly #open: Set<RequestId>;
  readonly #options: RequestTransportOptions;
  readonly #outgoing = new Map<number, RequestId>();
  #restore: ((response: JSONRPCResponse) => void) | undefined;
  #done = false;

  constructor(inner: WebStandardStreamableHTTPServerTransport, options: RequestTransportOptions) {
    this.#inner = inner;
    this.#options = options;
    this.sessionId = options.sessionId;
    this.#open = new Set(options.requestIds);
    let live = inFlight.get(options.sessionId);
    if (!live) inFlight.set(options.sessionId, (live = new Map()));
    for (const id of options.requestIds) live.set(id, this);
  }

  async start(): Promise<void> {
    this.#inner.onmessage = (message, extra) => this.onmessage?.(message, extra);
    this.#inner.onerror = (error) => this.onerror?.(error);
    this.#inner.onclose = () => this.#finish();
    await this.#inner.start();
  }

  /** Feeds the stored `initialize` to the server and waits for it to be processed. */
  async restore(initialize: Omit<JSONRPCRequest, 'id' | 'jsonrpc'>): Promise<void> {
    const answered = new Promise<JSONRPCResponse>((resolve) => (this.#restore = resolve));
    this.onmessage?.({ jsonrpc: '2.0', id: RESTORE_ID, ...initialize } as JSONRPCMessage);
    const response = await answered;
    this.#restore = undefined;
    if ('error' in response) throw new Error(`restoring the session failed: ${JSON.stringify(response.error)}`);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message) ? message : undefined;
    if (response && response.id === RESTORE_ID && this.#restore) {
      this.#restore(response);
      return;
    }
    if (isRequest(message)) {
      const id = nextOutgoingId++;
      this.#outgoing.set(id, message.id);
      awaitingReply.set(id, this);
      return this.#inner.send({ ...message, id }, options);
    }
    if (response?.id !== undefined && this.#open.has(response.id)) {
      const id = response.id;
      this.#open.delete(id);
      inFlight.get(this.sessionId)?.delete(id);
      const last = this.#open.size === 0;
      try {
        if (last && this.#options.beforeLastResponse) {
          try {
            await this.#options.beforeLastResponse();
          } catch (error) {
            this.onerror?.(error instanceof Error ? error : new Error(String(error)));
            message = {
              jsonrpc: '2.0',
              id,
              error: { code: ErrorCode.InternalError, message: 'Session state could not be saved; the request was not completed. Retry later.' },
            };
          }
        }
        await this.#inner.send(message, options);
      } finally {
        if (last) this.#finish();
      }
      return;
    }
    return this.#inner.send(message, options);
  }

  /** Delivers the client's reply to a server-to-client request this transport sent. */
  #deliverReply(reply: JSONRPCResponse, uniqueId: number): void {
    const original = this.#outgoing.get(uniqueId);
    if (original === undefined) return;
    this.#outgoing.delete(uniqueId);
    awaitingReply.delete(uniqueId);
    this.onmessage?.({ ...reply, id: original } as JSONRPCMessage);
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    for (const id of this.#outgoing.keys()) awaitingReply.delete(id);
    const live = inFlight.get(this.sessionId);
    if (live) {
      for (const [id, transport] of live) if (transport === this) live.delete(id);
      if (live.size === 0) inFlight.delete(this.sessionId);
    }
    this.#options.onDone?.();
  }

  async close(): Promise<void> {
    this.#finish();
    await this.#inner.close();
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
        const transport = awaitingReply.get(id);
        if (transport && transport.sessionId === sessionId) {
          transport.#deliverReply(message, id);
          continue;
        }
      } else if ('method' in message && message.method === 'notifications/cancelled') {
        const requestId = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        const transport = requestId === undefined ? undefined : inFlight.get(sessionId)?.get(requestId);
        if (transport) {
          transport.onmessage?.(message);
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
