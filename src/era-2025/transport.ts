// The transport a session's MCP server talks to. A server is connected to one RequestTransport
// for its whole life, and serves one HTTP exchange at a time: each exchange attaches the SDK's
// web-standard HTTP transport of its request. Between exchanges the server waits in the session's
// pool (src/era-2025/server-pool.ts), already restored, for that session's next request on this
// instance. On top of relaying, the transport adds what a server that outlives no process needs:
//  - restore: replays the session's stored `initialize` through the server itself, so the server
//    holds the negotiated client capabilities exactly as if it had lived the whole session;
//  - the last answer held: the answer that completes an HTTP request is handed to the exchange's
//    owner instead of being sent (`Exchange.outcome`), so that the owner stores the session's
//    changed state first and then sends it (`Exchange.finish`): the client never sees a result
//    whose state was not stored;
//  - routing: server-to-client requests get ids that name this instance (src/era-2025/exchanges.ts),
//    so that the client's reply, which arrives in a later HTTP request on any instance, can be
//    delivered to the server waiting for it;
//  - separation: the server sees the client's requests under ids unique on this instance, so
//    that whatever a tool sends after its request was answered is refused instead of landing in
//    a later request of the session that happens to reuse the same id;
//  - diversion: once the request's event stream was closed early (the client is told to come
//    back for the rest), what the server still sends for it goes to a `Sink` instead (the
//    channel, where a resumed stream on any instance picks it up).
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { JSONRPCMessage, JSONRPCRequest, JSONRPCResponse, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Exchanges } from './exchanges.js';
import { Exchange, isRequest, isResponse, type ExchangeHost, type ExchangeOptions } from './exchange.js';

const RESTORE_ID = '__baton_restore__';

export class RequestTransport implements Transport, ExchangeHost {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly sessionId: string;

  readonly #exchanges: Exchanges;
  #current: Exchange | undefined;
  #restore: ((response: JSONRPCResponse) => void) | undefined;
  #closed = false;

  constructor(sessionId: string, exchanges: Exchanges) {
    this.sessionId = sessionId;
    this.#exchanges = exchanges;
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
  async attach(inner: WebStandardStreamableHTTPServerTransport, options: ExchangeOptions): Promise<Exchange> {
    if (this.#closed) throw new Error('the transport is closed');
    if (this.#current) throw new Error('the server is already serving a request');
    const exchange = new Exchange(this, inner, options);
    this.#current = exchange;
    this.#exchanges.running(exchange);
    inner.onmessage = (message, extra) => {
      if (!isRequest(message)) {
        this.onmessage?.(message, extra);
        return;
      }
      const internal = this.#exchanges.internalId();
      exchange.clientIds.set(internal, message.id);
      exchange.internalIds.set(message.id, internal);
      this.onmessage?.({ ...message, id: internal }, extra);
      // A cancel that came before the request got here applies now.
      this.#exchanges.started(exchange, message.id);
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => this.end(exchange, false);
    await inner.start();
    return exchange;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message) ? message : undefined;
    if (response && response.id === RESTORE_ID && this.#restore) {
      this.#restore(response);
      return;
    }
    // Whatever the server sends belongs to a client request of the current exchange; a message
    // of an exchange that is over (work a tool left running after its answer) has nowhere to go.
    const exchange = this.#current;
    const related = response ? response.id : options?.relatedRequestId;
    const clientId = related === undefined ? undefined : exchange?.clientIds.get(String(related));
    if (!exchange || (related !== undefined && clientId === undefined)) {
      throw new Error('Not connected: the request this message belongs to was already answered');
    }
    if (!response) {
      exchange.markStreaming();
      if (clientId !== undefined) options = { ...options, relatedRequestId: clientId };
      if (isRequest(message)) {
        const id = this.#exchanges.expectReply(exchange, message.id);
        return exchange.write({ ...message, id }, options);
      }
      return exchange.write(message, options);
    }

    const id = clientId!;
    const answer: JSONRPCResponse = { ...response, id };
    // Answered: whatever the tool still sends for this request is refused from now on.
    exchange.clientIds.delete(String(related));
    exchange.open.delete(id);
    if (exchange.open.size > 0 || !exchange.holdLastAnswer) {
      const last = exchange.open.size === 0;
      if (last) this.end(exchange, true);
      return exchange.write(answer, options, last);
    }
    exchange.settle({ kind: 'answered', message: answer }, id);
  }

  /**
   * A client request of the current exchange was cancelled (`internal` is the id the server
   * sees). The server is told and sends no answer to it (the protocol says so), so it counts as
   * answered here; when it was the last one, the exchange ends like any other.
   */
  cancel(exchange: Exchange, clientId: RequestId, notification: JSONRPCMessage): void {
    const internal = exchange.internalIds.get(clientId);
    if (exchange.over || internal === undefined || !exchange.open.delete(clientId)) return;
    const params = (notification as { params?: Record<string, unknown> }).params;
    this.onmessage?.({ ...notification, params: { ...params, requestId: internal } } as JSONRPCMessage);
    if (exchange.open.size > 0) return;
    if (exchange.holdLastAnswer) exchange.settle({ kind: 'cancelled' }, clientId);
    else {
      exchange.inner.closeSSEStream(clientId);
      this.end(exchange, true);
    }
  }

  /** Ends an exchange (once); `answered` is false when it was cut off before its answers. */
  end(exchange: Exchange, answered: boolean): void {
    if (exchange.over) return;
    if (this.#current === exchange) this.#current = undefined;
    this.#exchanges.ended(exchange);
    exchange.resolveDone(answered && !this.#closed);
  }

  /** Ends the current exchange and lets go of the server for good (the session was deleted). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exchange = this.#current;
    if (exchange) {
      this.end(exchange, false);
      await exchange.inner.close();
    }
    // The server aborts what it still runs for this session.
    this.onclose?.();
  }
}
