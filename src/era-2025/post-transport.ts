// The HTTP side of one POST of a 2025 session: the messages it carries go to the session's server,
// and what the server sends about its requests comes back on the response, as server-sent events
// (or, for `initialize`, as one JSON answer). The exchange router (./exchange-router.ts) attaches
// one to the session's server per request. It takes the place of the SDK's web-standard
// transport, of which a session layer needs only this: the handler (./handler.ts) has already
// checked everything the SDK's would check (Accept, Content-Type, the version header, the session,
// the JSON-RPC shape), and sessions, resumability and GET streams are the session layer's own
// (./streams.ts). What it keeps of the SDK's behaviour, the router relies on: every request of the
// POST shares one stream, the stream ends once the last of them is answered, and an answer whose
// stream is gone is an error (`No connection established`), while a notification is dropped.
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage, type MessageExtraInfo, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { MAX_BATCH_SIZE } from '@modelcontextprotocol/sdk/server/requestBody.js';
import { JsonRpcCode, jsonRpcError } from '../http/errors.js';
import { SSE_HEADERS, sseEvent } from '../http/sse.js';
import { isRequest, isResponse } from './exchange.js';

const encoder = new TextEncoder();

export class PostTransport {
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;

  /** One JSON answer instead of an event stream (`initialize`: nothing can come before its answer). */
  readonly #json: boolean;
  /** The POST's requests by id, in their order: true once answered. */
  readonly #requests = new Map<RequestId, boolean>();
  #stream: EventStream | undefined;
  /** The answers of a JSON exchange, by request id. */
  readonly #answers = new Map<RequestId, JSONRPCMessage>();
  #resolveJson: ((response: Response) => void) | undefined;
  #handled = false;
  #closed = false;

  constructor(options: { json?: boolean } = {}) {
    this.#json = options.json ?? false;
  }

  async start(): Promise<void> {}

  /** Serves the POST whose body (`parsedBody`) the handler read and checked. */
  async handleRequest(request: Request, options: { parsedBody: unknown }): Promise<Response> {
    if (this.#handled) throw new Error('a PostTransport serves one request');
    this.#handled = true;
    if (this.#closed) return jsonRpcError(404, JsonRpcCode.SessionNotFound, 'Session not found');
    const raw = options.parsedBody;
    if (Array.isArray(raw) && raw.length > MAX_BATCH_SIZE) {
      return this.#refuse(400, JsonRpcCode.InvalidRequest, `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`);
    }
    // The SDK's own schema, as its transport applied it: what the server sees is what it parsed.
    const messages: JSONRPCMessage[] = [];
    for (const item of Array.isArray(raw) ? raw : [raw]) {
      const parsed = JSONRPCMessageSchema.safeParse(item);
      if (!parsed.success) return this.#refuse(400, JsonRpcCode.ParseError, 'Parse error: Invalid JSON-RPC message');
      messages.push(parsed.data);
    }
    const extra: MessageExtraInfo = { requestInfo: new RequestInfoOf(request) };
    for (const message of messages) if (isRequest(message)) this.#requests.set(message.id, false);
    if (this.#requests.size === 0) {
      for (const message of messages) this.onmessage?.(message, extra);
      return new Response(null, { status: 202 });
    }
    if (this.#json) {
      const answered = new Promise<Response>((resolve) => (this.#resolveJson = resolve));
      for (const message of messages) this.onmessage?.(message, extra);
      return answered;
    }
    const stream = new EventStream();
    this.#stream = stream;
    for (const message of messages) this.onmessage?.(message, extra);
    return new Response(stream.body(), { status: 200, headers: SSE_HEADERS });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const answer = isResponse(message);
    const id = answer ? message.id : options?.relatedRequestId;
    // Nothing here streams outside a request: there is no standalone stream to write to.
    if (id === undefined) {
      if (answer) throw new Error('Cannot send a response on a standalone SSE stream unless resuming a previous client request');
      return;
    }
    const answered = this.#requests.get(id);
    if (answered === undefined || answered) throw new Error(`No connection established for request ID: ${String(id)}`);
    if (this.#json) {
      if (!answer) return;
      this.#requests.set(id, true);
      this.#answers.set(id, message);
      if (this.#allAnswered()) this.#resolveJson?.(jsonAnswer([...this.#requests.keys()].map((request) => this.#answers.get(request)!)));
      return;
    }
    const stream = this.#stream;
    if (stream?.open) stream.write(sseEvent(message));
    if (!answer) return;
    this.#requests.set(id, true);
    if (!this.#allAnswered()) return;
    if (!stream?.open) throw new Error(`No connection established for request ID: ${String(id)}`);
    stream.close();
  }

  /** Ends the POST's event stream (the one its request `requestId` is on). */
  closeSSEStream(requestId: RequestId): void {
    if (this.#requests.has(requestId)) this.#stream?.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.close();
    this.onclose?.();
  }

  #allAnswered(): boolean {
    for (const answered of this.#requests.values()) if (!answered) return false;
    return true;
  }

  #refuse(status: number, code: number, message: string): Response {
    this.onerror?.(new Error(message));
    return jsonRpcError(status, code, message);
  }
}

/** The request as the SDK describes it to handlers (`extra.requestInfo`), made only if one looks. */
class RequestInfoOf {
  readonly #request: Request;
  #headers: Record<string, string> | undefined;
  #url: URL | undefined;

  constructor(request: Request) {
    this.#request = request;
  }

  get headers(): Record<string, string> {
    this.#headers ??= Object.fromEntries(this.#request.headers.entries());
    return this.#headers;
  }

  get url(): URL {
    this.#url ??= new URL(this.#request.url);
    return this.#url;
  }
}

function jsonAnswer(answers: JSONRPCMessage[]): Response {
  const body = JSON.stringify(answers.length === 1 ? answers[0] : answers);
  return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
}

/** The response's event stream: open until closed here or cancelled by its reader. */
class EventStream {
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #ended = false;

  get open(): boolean {
    return !this.#ended;
  }

  body(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#ended = true;
      },
    });
  }

  write(text: string): void {
    this.#controller?.enqueue(encoder.encode(text));
  }

  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#controller?.close();
    } catch {
      // Its reader cancelled it meanwhile.
    }
  }
}
