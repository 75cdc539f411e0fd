// The exchange router of one instance: the one owner of the work in flight for 2025 sessions on
// this instance, and of the rules that move messages between the client's HTTP requests and the
// sessions' servers. One per platform, owned by its Instance (src/era-2025/instance.ts), so that
// two platforms in one process share nothing here, as two processes would not. Its state is
// private; a request's owner holds an `Exchange` handle and a server its `RequestTransport`
// (./transport.ts), and both ask the router to act:
//  - attach: an HTTP request's transport (./post-transport.ts) is attached to a session's server, which
//    serves one exchange at a time. The server sees the client's requests under ids unique on this
//    instance, so that whatever a tool sends after its request was answered is refused instead of
//    landing in a later request of the session that happens to reuse the same id;
//  - send: what the server sends goes back on the request, under the client's ids. The answer that
//    completes the request may be held for the owner (`Exchange.outcome`), who stores the session's
//    state first and then sends it (`finish`); the server is free again, and may be given back to
//    the pool, before the client can see that answer;
//  - divert: once the request's event stream was closed early, the rest goes to a `Sink`;
//  - deliver a reply, cancel: see below.
//
// What the client sends about that work may reach any instance; the channel brings it here:
//  - a reply: a server-to-client request goes out under an id that names this instance
//    (`<instance>.<n>`); the instance that receives the reply delivers it, or publishes it on this
//    instance's topic. This instance is subscribed to its topic for its whole life, actively while
//    a request waits, passively otherwise (a polling channel then reads it only along with other
//    reads, so that late replies are still seen and logged at no cost of their own);
//  - a cancel: the receiving instance cancels the request if it runs there, else publishes it on
//    the session's topic, to which every instance running work of the session is subscribed
//    from the moment a request of the session comes in, before the store is asked (`arriving`).
//    A cancel may overtake its request (published while the request is still being opened, or
//    before it reached its server): it is kept, and applied when the request gets there;
//  - the session's end: published by the store's removal itself, on the session's topic.
// A reply nothing waits for (answered already, timed out, cancelled) is logged and dropped where
// the id says it belongs.
import type { PostTransport } from './post-transport.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, JSONRPCNotification, JSONRPCResponse, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Channel, Message, Subscription } from '../store/channel/types.js';
import { asPayload, instanceTopic, sessionTopic, type ReplyMessage, type SessionMessage } from '../store/channel/topics.js';
import type { Logger } from '../log.js';
import { observeReplyDelivery, observeReplyForward, withTraceMeta } from '../telemetry/replies.js';
import { type TraceCarrier, traceCarrier } from '../telemetry/trace-context.js';
import { noteAnswer } from '../telemetry/request-scope.js';
import { isRequest, isResponse, type ExchangeOptions, type Outcome, type Sink } from './exchange.js';

/** Where a client's reply to a server-to-client request belongs. */
export type ReplyRoute =
  /** Delivered to the request waiting on this instance. */
  | { kind: 'delivered' }
  /** Addressed to another instance. */
  | { kind: 'elsewhere'; instanceId: string }
  /** Addressed to this instance, but nothing waits for it (answered, cancelled, timed out). */
  | { kind: 'unclaimed' }
  /** Not an id this platform gives out. */
  | { kind: 'foreign' };

/** Replies and cancels one request may forward to other instances (each costs a statement). */
export const MAX_FORWARDS_PER_REQUEST = 8;
/** Largest reply or cancel forwarded (as JSON): elicitation answers and sampling results are small. */
export const MAX_FORWARD_BYTES = 1024 * 1024;
/** Early cancels kept per session: a client has a few requests outstanding, not hundreds. */
const MAX_EARLY_CANCELS = 32;

/** The transport a session's server is connected to for life (./transport.ts), as the router sees it. */
export interface ServerTransport extends Transport {
  readonly sessionId: string;
}

/** One HTTP request's share of a session's server, as its owner sees it; the router does the work. */
export class Exchange {
  readonly sessionId: string;
  /** Resolves when the answer can no longer be sent whole: the server sent something else first. */
  readonly streaming: Promise<void>;
  /** Resolves when the exchange's last answer is ready (held) or the exchange ended. */
  readonly outcome: Promise<Outcome>;
  /** Resolves once the exchange is over: true when its server is free for another one. */
  readonly done: Promise<boolean>;
  readonly #router: ExchangeRouter;

  constructor(router: ExchangeRouter, sessionId: string, promises: Pick<Exchange, 'streaming' | 'outcome' | 'done'>) {
    this.#router = router;
    this.sessionId = sessionId;
    this.streaming = promises.streaming;
    this.outcome = promises.outcome;
    this.done = promises.done;
  }

  /** The POST's transport handles the request (`body` already parsed). */
  handle(request: Request, body: unknown): Promise<Response> {
    return this.#router.handle(this, request, body);
  }

  /** Sends the held answer (or what replaces it; nothing after a cancel) and ends the exchange. */
  finish(message?: JSONRPCMessage): Promise<void> {
    return this.#router.finish(this, message);
  }

  /**
   * `finish`, except that the owner sends the answer itself, as the whole body of the HTTP
   * response; the HTTP transport's event stream ends empty. False, with nothing done, when the
   * exchange is over, its messages go to a sink, or something is on its stream already (the
   * earlier answers of a batch): then `finish`.
   */
  finishWhole(): boolean {
    return this.#router.finishWhole(this);
  }

  /**
   * Ends the exchange without sending anything: the HTTP transport refused the request itself,
   * or the owner answers the HTTP request in another way (a 503).
   */
  abandon(): void {
    this.#router.abandon(this);
  }

  /** From now on, messages of this exchange go to `sink`; false when the exchange is over already. */
  divert(sink: Sink): boolean {
    return this.#router.divert(this, sink);
  }

  /** Ends the HTTP event streams of the requests not answered yet. */
  closeStreams(): void {
    this.#router.closeStreams(this);
  }

  /**
   * Gives the exchange's work up here, saying nothing to the client (a hand-over in a drain): the
   * server stops its requests, and replies to what it had asked the client (the wire ids returned)
   * are kept on the channel for whichever instance goes on with the work. The streams stay open
   * until `closeStreams` or `cutOff`.
   */
  handOver(): string[] {
    return this.#router.handOver(this);
  }

  /** Stops the exchange's work here and answers each of its open requests with `error`, the last one closing its stream. */
  cutOff(error: { code: number; message: string }): Promise<void> {
    return this.#router.cutOff(this, error);
  }
}

/** What the router knows of one server: the exchange it serves, if any. */
interface Seat {
  readonly transport: ServerTransport;
  current: State | undefined;
  /** The server was let go of for good (its session was deleted, or its request failed). */
  closed: boolean;
}

/** What the router knows of one exchange. */
interface State {
  readonly seat: Seat;
  readonly inner: PostTransport;
  readonly sessionId: string;
  readonly holdLastAnswer: boolean;
  readonly since: number | undefined;
  /** Client requests not answered yet, by the client's ids. */
  readonly open: Set<RequestId>;
  /** The ids the server sees for the client's requests -> the client's own. */
  readonly clientIds: Map<string, RequestId>;
  /** The client's ids -> the ids the server sees. */
  readonly internalIds: Map<RequestId, string>;
  /** Server-to-client requests sent in this exchange: their id on the wire -> the server's own, and the trace it went out in. */
  readonly outgoing: Map<string, { serverId: RequestId; trace: TraceCarrier | undefined }>;
  /** The client's ids of the last requests answered or cancelled: the streams to close. */
  readonly lastIds: RequestId[];
  over: boolean;
  /** Something was written to the HTTP transport's stream. */
  written: boolean;
  sink: Sink | undefined;
  readonly markStreaming: () => void;
  readonly settle: (outcome: Outcome) => void;
  readonly resolveDone: (reusable: boolean) => void;
}

interface Running {
  exchanges: Set<State>;
  /** Requests of the session that came in and have no exchange yet (see `arriving`). */
  arriving: number;
  /** This instance listens on the session's topic while it runs work of the session. */
  subscription: Subscription;
  /** Cancels heard for requests that had not reached their server, by request id, oldest first. */
  early: Map<RequestId, JSONRPCNotification>;
}

export class ExchangeRouter {
  readonly instanceId: string;
  readonly #channel: Channel;
  readonly #logger: Logger;
  readonly #seats = new WeakMap<ServerTransport, Seat>();
  readonly #states = new WeakMap<Exchange, State>();
  /** Server-to-client requests waiting for a reply, by their id on the wire. */
  readonly #waiting = new Map<string, State>();
  /** On the instance's topic: active while a reply is awaited. */
  readonly #replies: Subscription;
  /** Exchanges being served, by session. */
  readonly #running = new Map<string, Running>();
  /** Wire ids of requests whose exchange was handed over: a reply that reaches this instance goes to the channel. */
  readonly #handedOver = new Set<string>();
  #outgoing = 0;
  #internal = 0;

  constructor(instanceId: string, channel: Channel, logger: Logger) {
    this.instanceId = instanceId;
    this.#channel = channel;
    this.#logger = logger;
    this.#replies = channel.subscribe(instanceTopic(instanceId), (message) => this.#onReply(message), { passive: true });
  }

  close(): void {
    this.#replies.unsubscribe();
  }

  /** Serves one HTTP request with the server connected to `transport`: its messages reach the server, the server's go back on it. */
  async attach(transport: ServerTransport, inner: PostTransport, options: ExchangeOptions): Promise<Exchange> {
    const seat = this.#seat(transport);
    if (seat.closed) throw new Error('the transport is closed');
    if (seat.current) throw new Error('the server is already serving a request');
    let markStreaming!: () => void;
    let settle!: (outcome: Outcome) => void;
    let resolveDone!: (reusable: boolean) => void;
    const exchange = new Exchange(this, transport.sessionId, {
      streaming: new Promise((resolve) => (markStreaming = resolve)),
      outcome: new Promise((resolve) => (settle = resolve)),
      done: new Promise((resolve) => (resolveDone = resolve)),
    });
    const state: State = {
      seat,
      inner,
      sessionId: transport.sessionId,
      holdLastAnswer: options.holdLastAnswer,
      since: options.since,
      open: new Set(options.requestIds),
      clientIds: new Map(),
      internalIds: new Map(),
      outgoing: new Map(),
      lastIds: [],
      over: false,
      written: false,
      sink: undefined,
      markStreaming,
      settle,
      resolveDone,
    };
    this.#states.set(exchange, state);
    seat.current = state;
    this.#entry(state.sessionId, state.since).exchanges.add(state);
    inner.onmessage = (message, extra) => {
      if (!isRequest(message)) {
        transport.onmessage?.(message, extra);
        return;
      }
      const internal = `~${++this.#internal}`;
      state.clientIds.set(internal, message.id);
      state.internalIds.set(message.id, internal);
      transport.onmessage?.({ ...message, id: internal }, extra);
      // A cancel that came before the request got here applies now.
      this.#started(state, message.id);
    };
    inner.onerror = (error) => transport.onerror?.(error);
    inner.onclose = () => this.#end(state, false);
    await inner.start();
    return exchange;
  }

  /** A message from the server connected to `transport`, for the exchange it serves. */
  async send(transport: ServerTransport, message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message) ? message : undefined;
    // Whatever the server sends belongs to a client request of the current exchange; a message
    // of an exchange that is over (work a tool left running after its answer) has nowhere to go.
    const state = this.#seats.get(transport)?.current;
    const related = response ? response.id : options?.relatedRequestId;
    const clientId = related === undefined ? undefined : state?.clientIds.get(String(related));
    if (!state || (related !== undefined && clientId === undefined)) {
      throw new Error('Not connected: the request this message belongs to was already answered');
    }
    if (!response) {
      state.markStreaming();
      if (clientId !== undefined) options = { ...options, relatedRequestId: clientId };
      if (isRequest(message)) {
        // The call's trace goes out with the question (params._meta), and its answer is delivered in it.
        const trace = traceCarrier();
        return this.#write(state, withTraceMeta({ ...message, id: this.#expectReply(state, message.id, trace) }, trace), options);
      }
      return this.#write(state, message, options);
    }

    const id = clientId!;
    const answer: JSONRPCResponse = { ...response, id };
    // Its request's span learns how it ended (a batch's requests each their own).
    noteAnswer(id, answer);
    // Answered: whatever the tool still sends for this request is refused from now on.
    state.clientIds.delete(String(related));
    state.open.delete(id);
    if (state.open.size > 0 || !state.holdLastAnswer) {
      const last = state.open.size === 0;
      if (last) this.#end(state, true);
      return this.#write(state, answer, options, last);
    }
    state.lastIds.push(id);
    state.settle({ kind: 'answered', message: answer });
  }

  /** Lets go of the server connected to `transport` for good; false when it was let go of already. */
  async disconnect(transport: ServerTransport): Promise<boolean> {
    const seat = this.#seat(transport);
    if (seat.closed) return false;
    seat.closed = true;
    const state = seat.current;
    if (state) {
      this.#end(state, false);
      await state.inner.close();
    }
    return true;
  }

  handle(exchange: Exchange, request: Request, body: unknown): Promise<Response> {
    return this.#state(exchange).inner.handleRequest(request, { parsedBody: body });
  }

  async finish(exchange: Exchange, message?: JSONRPCMessage): Promise<void> {
    const state = this.#state(exchange);
    if (state.over) return;
    // The server's part is over: it is free before the client can see the answer, so that a
    // client's next request may already find it in the pool.
    this.#end(state, true);
    if (message) await this.#write(state, message, undefined, true);
    else if (state.sink) await state.sink.end();
    else for (const id of state.lastIds) state.inner.closeSSEStream(id);
  }

  finishWhole(exchange: Exchange): boolean {
    const state = this.#state(exchange);
    if (state.over || state.sink || state.written) return false;
    this.#end(state, true);
    for (const id of state.lastIds) state.inner.closeSSEStream(id);
    return true;
  }

  abandon(exchange: Exchange): void {
    this.#end(this.#state(exchange), true);
  }

  handOver(exchange: Exchange): string[] {
    const state = this.#state(exchange);
    if (state.over) return [];
    const waitedFor = [...state.outgoing.keys()];
    for (const id of waitedFor) this.#handedOver.add(id);
    this.#stopServer(state);
    this.#end(state, false);
    return waitedFor;
  }

  async cutOff(exchange: Exchange, error: { code: number; message: string }): Promise<void> {
    const state = this.#state(exchange);
    const open = [...state.open];
    if (!state.over) {
      this.#stopServer(state);
      this.#end(state, false);
    }
    state.open.clear();
    for (const [index, id] of open.entries()) await this.#write(state, { jsonrpc: '2.0', id, error }, undefined, index === open.length - 1);
  }

  divert(exchange: Exchange, sink: Sink): boolean {
    const state = this.#state(exchange);
    if (state.over) return false;
    state.sink = sink;
    state.markStreaming();
    return true;
  }

  closeStreams(exchange: Exchange): void {
    const state = this.#state(exchange);
    // The stream ends once what was written to it is read: nothing sent before is lost.
    for (const id of state.open) state.inner.closeSSEStream(id);
  }

  /**
   * A request of the session came in: from now on, what is published on the session's topic
   * reaches this instance, so that a cancel the client sends right after the request, to any
   * instance, finds it however early. Called before the store opens the session (a message
   * published after the open then comes after the subscription); the returned release is called
   * once the request's exchange runs here, or the request was refused.
   */
  arriving(sessionId: string): () => void {
    const running = this.#entry(sessionId, undefined);
    running.arriving++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      running.arriving--;
      this.#releaseSession(sessionId, running);
    };
  }

  /**
   * Delivers a client's reply to the request of this session waiting for it, if it waits here;
   * `forwardedFrom` is the trace context of the instance that forwarded it.
   */
  deliverReply(sessionId: string, reply: JSONRPCResponse, forwardedFrom?: TraceCarrier): ReplyRoute {
    const id = typeof reply.id === 'string' ? reply.id : String(reply.id);
    const dot = id.lastIndexOf('.');
    const instanceId = dot > 0 ? id.slice(0, dot) : '';
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(instanceId) || !/^\d+$/.test(id.slice(dot + 1))) return { kind: 'foreign' };
    if (instanceId !== this.instanceId) return { kind: 'elsewhere', instanceId };
    const state = this.#waiting.get(id);
    const original = state?.outgoing.get(id);
    // Another session's client cannot answer for this one, even knowing the id.
    if (!state || original === undefined || state.sessionId !== sessionId) return { kind: 'unclaimed' };
    state.outgoing.delete(id);
    this.#waiting.delete(id);
    this.#releaseReplies();
    observeReplyDelivery(original.trace, forwardedFrom, { 'mcp.session.id': sessionId.slice(0, 8), 'jsonrpc.request.id': id }, () =>
      state.seat.transport.onmessage?.({ ...reply, id: original.serverId } as JSONRPCMessage),
    );
    return { kind: 'delivered' };
  }

  /**
   * Cancels a client request of the session if it runs here (or keeps the cancel for when the
   * request reaches its server); false when it does not run here.
   */
  cancel(sessionId: string, notification: JSONRPCNotification): boolean {
    const requestId = notification.params?.requestId as RequestId | undefined;
    const running = this.#running.get(sessionId);
    if (requestId === undefined || !running) return false;
    for (const state of running.exchanges) {
      if (!state.open.has(requestId)) continue;
      if (state.internalIds.has(requestId)) this.#cancelRequest(state, requestId, notification);
      else this.#keepEarly(running, requestId, notification);
      return true;
    }
    return false;
  }

  /**
   * Takes what answers or cancels work in flight, wherever it runs: replies to server-to-client
   * requests and `notifications/cancelled`, delivered here or published for the instance that
   * runs the work (one statement each). Returns the messages left to serve.
   */
  async route(sessionId: string, messages: JSONRPCMessage[]): Promise<JSONRPCMessage[]> {
    const rest: JSONRPCMessage[] = [];
    // Forwarding costs a statement and keeps the message for the retention. A client answers one
    // request per POST (a batch holds as many as it has outstanding, a few); ids are only shaped,
    // not signed, so a cap keeps one POST of made-up ids from turning into thousands of writes.
    let forwards = 0;
    const forward = async (topic: string, payload: ReplyMessage | SessionMessage, what: string): Promise<void> => {
      const size = JSON.stringify(payload).length;
      if (forwards >= MAX_FORWARDS_PER_REQUEST || size > MAX_FORWARD_BYTES) {
        const why =
          size > MAX_FORWARD_BYTES ? `larger than ${MAX_FORWARD_BYTES} bytes` : `more than ${MAX_FORWARDS_PER_REQUEST} in one request`;
        this.#logger.warn(`${what} not forwarded`, { session: sessionId.slice(0, 8), why });
        return;
      }
      forwards++;
      await this.#channel.publish(topic, asPayload(payload));
      this.#logger.debug(`${what} forwarded`, { session: sessionId.slice(0, 8) });
    };
    for (const message of messages) {
      if (isResponse(message)) {
        const route = this.deliverReply(sessionId, message);
        if (route.kind === 'elsewhere') {
          const topic = instanceTopic(route.instanceId);
          const attributes = {
            'messaging.destination.name': topic,
            'mcp.session.id': sessionId.slice(0, 8),
            'jsonrpc.request.id': String(message.id),
          };
          await observeReplyForward(attributes, (trace) =>
            forward(topic, { kind: 'reply', session: sessionId, message, ...(trace && { trace }) }, 'reply'),
          );
        } else if (route.kind === 'unclaimed' && this.#handedOver.has(String(message.id))) {
          // Its work went on elsewhere: that instance reads the reply from this instance's topic.
          await forward(instanceTopic(this.instanceId), { kind: 'reply', session: sessionId, message }, 'reply to handed-over work');
        } else if (route.kind !== 'delivered') {
          this.#dropped(sessionId, message, route.kind === 'foreign' ? 'not an id this server gave out' : 'nothing waits for it');
        }
        continue;
      }
      if ('method' in message && message.method === 'notifications/cancelled' && !('id' in message)) {
        if (!this.cancel(sessionId, message)) await forward(sessionTopic(sessionId), { kind: 'cancel', message }, 'cancel');
        continue;
      }
      rest.push(message);
    }
    return rest;
  }

  /** Ends everything in flight for a session here (it was deleted). */
  async endSession(sessionId: string): Promise<void> {
    const running = this.#running.get(sessionId);
    if (!running) return;
    await Promise.all([...running.exchanges].map((state) => state.seat.transport.close()));
  }

  /** Client requests whose last answer has not been sent yet (for draining on shutdown). */
  get unfinished(): number {
    let count = 0;
    for (const running of this.#running.values()) for (const state of running.exchanges) count += Math.max(state.open.size, 1);
    return count;
  }

  #seat(transport: ServerTransport): Seat {
    let seat = this.#seats.get(transport);
    if (!seat) {
      seat = { transport, current: undefined, closed: false };
      this.#seats.set(transport, seat);
    }
    return seat;
  }

  #state(exchange: Exchange): State {
    const state = this.#states.get(exchange);
    if (!state) throw new Error('not an exchange of this router');
    return state;
  }

  /** Sends one message of an exchange where it currently goes. */
  async #write(state: State, message: JSONRPCMessage, options?: TransportSendOptions, last = false): Promise<void> {
    if (state.sink) return state.sink.write(message, last);
    state.written = true;
    await state.inner.send(message, options);
  }

  /** Registers a server-to-client request of the exchange; returns its id on the wire. */
  #expectReply(state: State, serverId: RequestId, trace: TraceCarrier | undefined): string {
    const id = `${this.instanceId}.${++this.#outgoing}`;
    state.outgoing.set(id, { serverId, trace });
    this.#waiting.set(id, state);
    // Active before the request leaves, so that its reply cannot come before.
    if (this.#waiting.size === 1) this.#replies.setPassive(false, state.since);
    return id;
  }

  /** A client request of the exchange reached the server: a cancel of it that came earlier applies now. */
  #started(state: State, requestId: RequestId): void {
    const running = this.#running.get(state.sessionId);
    const cancel = running?.early.get(requestId);
    if (!running || !cancel) return;
    running.early.delete(requestId);
    this.#cancelRequest(state, requestId, cancel);
  }

  /**
   * A client request of the exchange was cancelled. The server is told (under the id it sees) and
   * sends no answer to it (the protocol says so), so it counts as answered here; when it was the
   * last one, the exchange ends like any other.
   */
  #cancelRequest(state: State, clientId: RequestId, notification: JSONRPCNotification): void {
    const internal = state.internalIds.get(clientId);
    if (state.over || internal === undefined || !state.open.delete(clientId)) return;
    state.seat.transport.onmessage?.({ ...notification, params: { ...notification.params, requestId: internal } } as JSONRPCMessage);
    if (state.open.size > 0) return;
    if (state.holdLastAnswer) {
      state.lastIds.push(clientId);
      state.settle({ kind: 'cancelled' });
    } else {
      state.inner.closeSSEStream(clientId);
      this.#end(state, true);
    }
  }

  /** The server stops what it runs for the exchange's open requests (as for a cancel: it answers none of them). */
  #stopServer(state: State): void {
    for (const clientId of state.open) {
      const internal = state.internalIds.get(clientId);
      if (internal === undefined) continue;
      const cancel = {
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: internal, reason: 'the instance is stopping' },
      };
      state.seat.transport.onmessage?.(cancel as JSONRPCMessage);
    }
  }

  /** Ends an exchange (once); `answered` is false when it was cut off before its answers. */
  #end(state: State, answered: boolean): void {
    if (state.over) return;
    const seat = state.seat;
    if (seat.current === state) seat.current = undefined;
    for (const id of state.outgoing.keys()) this.#waiting.delete(id);
    state.outgoing.clear();
    this.#releaseReplies();
    const running = this.#running.get(state.sessionId);
    if (running) {
      running.exchanges.delete(state);
      this.#releaseSession(state.sessionId, running);
    }
    state.over = true;
    state.settle({ kind: 'ended' });
    state.resolveDone(answered && !seat.closed);
  }

  #entry(sessionId: string, since: number | undefined): Running {
    let running = this.#running.get(sessionId);
    if (!running) {
      const subscription = this.#channel.subscribe(sessionTopic(sessionId), (message) => this.#onSessionMessage(sessionId, message), {
        since,
      });
      running = { exchanges: new Set(), arriving: 0, subscription, early: new Map() };
      this.#running.set(sessionId, running);
    }
    return running;
  }

  #releaseSession(sessionId: string, running: Running): void {
    if (running.exchanges.size > 0 || running.arriving > 0 || this.#running.get(sessionId) !== running) return;
    running.subscription.unsubscribe();
    this.#running.delete(sessionId);
  }

  #releaseReplies(): void {
    if (this.#waiting.size === 0) this.#replies.setPassive(true);
  }

  #keepEarly(running: Running, requestId: RequestId, notification: JSONRPCNotification): void {
    running.early.delete(requestId);
    running.early.set(requestId, notification);
    if (running.early.size > MAX_EARLY_CANCELS) running.early.delete(running.early.keys().next().value!);
  }

  #onReply(message: Message): void {
    const reply = message.payload as unknown as ReplyMessage;
    if (reply?.kind !== 'reply') return;
    // A message without a trace (tracing off there, or an older instance) still counts as forwarded.
    const route = this.deliverReply(reply.session, reply.message, reply.trace ?? {});
    if (route.kind !== 'delivered') this.#dropped(reply.session, reply.message, 'nothing waits for it');
  }

  #onSessionMessage(sessionId: string, message: Message): void {
    const event = message.payload as unknown as SessionMessage;
    if (event?.kind === 'cancel') {
      // Not running here (yet): its request may still be on its way to this instance.
      const requestId = event.message.params?.requestId as RequestId | undefined;
      const running = this.#running.get(sessionId);
      if (!this.cancel(sessionId, event.message) && running && requestId !== undefined) this.#keepEarly(running, requestId, event.message);
    } else if (event?.kind === 'ended') void this.endSession(sessionId);
  }

  #dropped(sessionId: string, reply: JSONRPCResponse, why: string): void {
    this.#logger.info('reply dropped', { session: sessionId.slice(0, 8), id: String(reply.id).slice(0, 80), why });
  }
}
