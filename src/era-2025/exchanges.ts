// The work in flight on one instance: the exchanges (HTTP requests of 2025 sessions) being
// served, and the server-to-client requests (elicitation, sampling, roots) waiting for the
// client's reply. One per platform, owned by its Instance (src/era-2025/instance.ts), so that two
// platforms in one process share nothing here, as two processes would not.
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
import type { JSONRPCMessage, JSONRPCNotification, JSONRPCResponse, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Channel, Message, Subscription } from '../store/channel/types.js';
import { asPayload, instanceTopic, sessionTopic, type ReplyMessage, type SessionMessage } from '../store/channel/topics.js';
import type { Logger } from '../log.js';
import { isResponse, type Exchange } from './exchange.js';

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

interface Running {
  exchanges: Set<Exchange>;
  /** Requests of the session that came in and have no exchange yet (see `arriving`). */
  arriving: number;
  /** This instance listens on the session's topic while it runs work of the session. */
  subscription: Subscription;
  /** Cancels heard for requests that had not reached their server, by request id, oldest first. */
  early: Map<RequestId, JSONRPCNotification>;
}

/** Early cancels kept per session: a client has a few requests outstanding, not hundreds. */
const MAX_EARLY_CANCELS = 32;

export class Exchanges {
  readonly instanceId: string;
  readonly #channel: Channel;
  readonly #logger: Logger;
  /** Server-to-client requests waiting for a reply, by their id on the wire. */
  readonly #waiting = new Map<string, Exchange>();
  /** On the instance's topic: active while a reply is awaited. */
  readonly #replies: Subscription;
  /** Exchanges being served, by session. */
  readonly #running = new Map<string, Running>();
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

  /** The id under which the server sees a client's request: unique on this instance. */
  internalId(): string {
    return `~${++this.#internal}`;
  }

  /** Registers a server-to-client request of `exchange`; returns its id on the wire. */
  expectReply(exchange: Exchange, serverId: RequestId): string {
    const id = `${this.instanceId}.${++this.#outgoing}`;
    exchange.outgoing.set(id, serverId);
    this.#waiting.set(id, exchange);
    // Active before the request leaves, so that its reply cannot come before.
    if (this.#waiting.size === 1) this.#replies.setPassive(false, exchange.since);
    return id;
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

  running(exchange: Exchange): void {
    this.#entry(exchange.sessionId, exchange.since).exchanges.add(exchange);
  }

  /** A client request of `exchange` reached the server: a cancel of it that came earlier applies now. */
  started(exchange: Exchange, requestId: RequestId): void {
    const running = this.#running.get(exchange.sessionId);
    const cancel = running?.early.get(requestId);
    if (!running || !cancel) return;
    running.early.delete(requestId);
    exchange.transport.cancel(exchange, requestId, cancel);
  }

  ended(exchange: Exchange): void {
    for (const id of exchange.outgoing.keys()) this.#waiting.delete(id);
    exchange.outgoing.clear();
    this.#releaseReplies();
    const running = this.#running.get(exchange.sessionId);
    if (!running) return;
    running.exchanges.delete(exchange);
    this.#releaseSession(exchange.sessionId, running);
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

  /** Delivers a client's reply to the request of this session waiting for it, if it waits here. */
  deliverReply(sessionId: string, reply: JSONRPCResponse): ReplyRoute {
    const id = typeof reply.id === 'string' ? reply.id : String(reply.id);
    const dot = id.lastIndexOf('.');
    const instanceId = dot > 0 ? id.slice(0, dot) : '';
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(instanceId) || !/^\d+$/.test(id.slice(dot + 1))) return { kind: 'foreign' };
    if (instanceId !== this.instanceId) return { kind: 'elsewhere', instanceId };
    const exchange = this.#waiting.get(id);
    const original = exchange?.outgoing.get(id);
    // Another session's client cannot answer for this one, even knowing the id.
    if (!exchange || original === undefined || exchange.sessionId !== sessionId) return { kind: 'unclaimed' };
    exchange.outgoing.delete(id);
    this.#waiting.delete(id);
    this.#releaseReplies();
    exchange.transport.onmessage?.({ ...reply, id: original } as JSONRPCMessage);
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
    for (const exchange of running.exchanges) {
      if (!exchange.open.has(requestId)) continue;
      if (exchange.internalIds.has(requestId)) exchange.transport.cancel(exchange, requestId, notification);
      else this.#keepEarly(running, requestId, notification);
      return true;
    }
    return false;
  }

  #keepEarly(running: Running, requestId: RequestId, notification: JSONRPCNotification): void {
    running.early.delete(requestId);
    running.early.set(requestId, notification);
    if (running.early.size > MAX_EARLY_CANCELS) running.early.delete(running.early.keys().next().value!);
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
          await forward(instanceTopic(route.instanceId), { kind: 'reply', session: sessionId, message }, 'reply');
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
    await Promise.all([...running.exchanges].map((exchange) => exchange.transport.close()));
  }

  /** Client requests whose last answer has not been sent yet (for draining on shutdown). */
  get unfinished(): number {
    let count = 0;
    for (const running of this.#running.values()) for (const exchange of running.exchanges) count += Math.max(exchange.open.size, 1);
    return count;
  }

  #onReply(message: Message): void {
    const reply = message.payload as unknown as ReplyMessage;
    if (reply?.kind !== 'reply') return;
    const route = this.deliverReply(reply.session, reply.message);
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
