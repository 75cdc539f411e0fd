// The transport a session's MCP server talks to. A server is connected to one RequestTransport
// for its whole life, and serves one HTTP exchange at a time: the instance's exchange router
// (./exchange-router.ts) attaches the HTTP transport of each POST (./post-transport.ts) to it and
// carries the server's messages back (ids, the held answer, replies, cancels, diversion: the rules
// live there). Between exchanges the server waits in the session's pool
// (src/era-2025/server-pool.ts), already restored, for that session's next request on this
// instance. What the transport adds itself is the restore: it replays the session's stored
// `initialize` through the server, so the server holds the negotiated client capabilities exactly
// as if it had lived the whole session.
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { PostTransport } from './post-transport.js';
import type { JSONRPCMessage, JSONRPCRequest, JSONRPCResponse, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import type { Exchange, ExchangeRouter, ServerTransport } from './exchange-router.js';
import { isResponse, type ExchangeOptions } from './exchange.js';

const RESTORE_ID = '__baton_restore__';

export class RequestTransport implements ServerTransport {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly sessionId: string;

  readonly #router: ExchangeRouter;
  #restore: ((response: JSONRPCResponse) => void) | undefined;

  constructor(sessionId: string, router: ExchangeRouter) {
    this.sessionId = sessionId;
    this.#router = router;
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
  attach(inner: PostTransport, options: ExchangeOptions): Promise<Exchange> {
    return this.#router.attach(this, inner, options);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.#restore && isResponse(message) && message.id === RESTORE_ID) {
      this.#restore(message);
      return;
    }
    return this.#router.send(this, message, options);
  }

  /** Ends the current exchange and lets go of the server for good (the session was deleted). */
  async close(): Promise<void> {
    // The server aborts what it still runs for this session.
    if (await this.#router.disconnect(this)) this.onclose?.();
  }
}
