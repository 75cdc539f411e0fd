// One HTTP request's share of a session's transport (src/era-2025/transport.ts): the ids it
// carries, where its messages go, and the answer held back for its owner. Its own file so that
// the transport and the session's exchange router (./exchanges.ts) both build on it.
import type { JSONRPCMessage, JSONRPCRequest, JSONRPCResponse, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';

/** What an exchange, and the router that delivers to it, need of the transport it belongs to. */
export interface ExchangeHost {
  readonly sessionId: string;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  end(exchange: Exchange, answered: boolean): void;
  cancel(exchange: Exchange, clientId: RequestId, notification: JSONRPCMessage): void;
  close(): Promise<void>;
}

// Structural checks: every message here was validated on the way in (client messages by the
// SDK transport) or built by the SDK server itself, so re-validating with zod would only cost.
export function isResponse(message: JSONRPCMessage): message is JSONRPCResponse {
  return 'result' in message || 'error' in message;
}

export function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return 'method' in message && 'id' in message;
}

export interface ExchangeOptions {
  /** Ids of the client requests this HTTP request carries. */
  requestIds: RequestId[];
  /**
   * Hand the answer that completes the exchange to the owner (`outcome`) instead of sending it;
   * the owner sends it with `finish`. Without it, every answer is sent as it comes.
   */
  holdLastAnswer: boolean;
  /**
   * The store's clock when the request's session was opened (OpenResult.at): messages about this
   * exchange published on the channel from then on reach it.
   */
  since?: number;
}

/** How an exchange whose last answer is held came to its end. */
export type Outcome =
  /** The server answered the last open request; the answer is not sent yet. */
  | { kind: 'answered'; message: JSONRPCResponse }
  /** The client cancelled the last open request: there is no answer to send. */
  | { kind: 'cancelled' }
  /** The exchange was ended from outside (session deleted, HTTP transport closed). */
  | { kind: 'ended' };

/** Where messages of an exchange go once its event stream was closed early. */
export interface Sink {
  /** `last` marks the message that completes the exchange. */
  write(message: JSONRPCMessage, last: boolean): Promise<void>;
  /** The exchange ended without a last message (cancelled, or ended from outside). */
  end(): Promise<void>;
}

/** One HTTP request's share of the transport, as its owner sees it. */
export class Exchange {
  readonly sessionId: string;
  /** Resolves when the answer can no longer be sent whole: the server sent something else first. */
  readonly streaming: Promise<void>;
  /** Resolves when the exchange's last answer is ready (held) or the exchange ended. */
  readonly outcome: Promise<Outcome>;
  /** Resolves once the exchange is over: true when its server is free for another one. */
  readonly done: Promise<boolean>;

  /** Client requests not answered yet, by the client's ids. */
  readonly open: Set<RequestId>;
  /** The ids the server sees for the client's requests -> the client's own. */
  readonly clientIds = new Map<string, RequestId>();
  /** The client's ids -> the ids the server sees. */
  readonly internalIds = new Map<RequestId, string>();
  /** Server-to-client requests sent in this exchange: their id on the wire -> the server's own. */
  readonly outgoing = new Map<string, RequestId>();
  readonly holdLastAnswer: boolean;
  readonly since: number | undefined;
  over = false;

  /** The client's ids of the last requests answered or cancelled: the stream to close. */
  #lastIds: RequestId[] = [];
  #markStreaming!: () => void;
  #settle!: (outcome: Outcome) => void;
  #resolveDone!: (reusable: boolean) => void;
  #sink: Sink | undefined;

  constructor(
    readonly transport: ExchangeHost,
    readonly inner: WebStandardStreamableHTTPServerTransport,
    options: ExchangeOptions,
  ) {
    this.sessionId = transport.sessionId;
    this.open = new Set(options.requestIds);
    this.holdLastAnswer = options.holdLastAnswer;
    this.since = options.since;
    this.streaming = new Promise((resolve) => (this.#markStreaming = resolve));
    this.outcome = new Promise((resolve) => (this.#settle = resolve));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Sends the held answer (or what replaces it; nothing after a cancel) and ends the exchange. */
  async finish(message?: JSONRPCMessage): Promise<void> {
    if (this.over) return;
    // The server's part is over: it is free before the client can see the answer, so that a
    // client's next request may already find it in the pool.
    this.transport.end(this, true);
    if (message) await this.write(message, undefined, true);
    else if (this.#sink) await this.#sink.end();
    else for (const id of this.#lastIds) this.inner.closeSSEStream(id);
  }

  /**
   * Ends the exchange without sending anything: the HTTP transport refused the request itself,
   * or the owner answers the HTTP request in another way (a 503).
   */
  abandon(): void {
    this.transport.end(this, true);
  }

  /** From now on, messages of this exchange go to `sink` instead of the HTTP transport. */
  divert(sink: Sink): void {
    this.#sink = sink;
    this.#markStreaming();
  }

  /** @internal Used by RequestTransport. */
  markStreaming(): void {
    this.#markStreaming();
  }

  /** @internal */
  settle(outcome: Outcome, lastId?: RequestId): void {
    if (lastId !== undefined) this.#lastIds.push(lastId);
    this.#settle(outcome);
  }

  /** @internal */
  resolveDone(reusable: boolean): void {
    this.over = true;
    this.#settle({ kind: 'ended' });
    this.#resolveDone(reusable);
  }

  /** @internal Sends one message of this exchange where it currently goes. */
  async write(message: JSONRPCMessage, options?: TransportSendOptions, last = false): Promise<void> {
    if (this.#sink) return this.#sink.write(message, last);
    await this.inner.send(message, options);
  }
}
