// Event streams of 2025 sessions that any instance can serve and any instance can resume.
//
// - A request's stream (the answer to a POST) starts with a priming event whose id names the
//   stream, when the session's protocol allows it (2025-11-25 on: clients of older revisions
//   cannot take an event without data). If the stream ends before the request is answered (the
//   tool closed it to have the client poll, or the client went away), whatever the server still
//   sends for the request goes to the channel instead, on the stream's own topic; the client
//   comes back with GET and Last-Event-ID, on any instance, and gets it there.
// - The session's standalone stream (GET) carries what is announced for it from anywhere: list
//   changes, resource updates for the resources it subscribed to, notifications for the session,
//   and ends with the session. Which resources those are it learns from the session's state when
//   it opens, then from the session's topic, where every change of them is announced with the
//   state write that records it: resource updates cost a stream one statement at most in its life,
//   and an unsubscribe counts at once. Its events are kept in the store for `channel.retention`,
//   so a client reconnecting with Last-Event-ID (to any instance) gets what it missed, and nothing
//   twice. A client that reads more slowly than events come has its stream ended once
//   `inboxLimit` events wait for it; it resumes from its last event like any other.
//
// Event ids say where to resume (./cursor.ts). Each GET stream is one GetStream below.
import type { JSONRPCMessage, JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';
import {
  comparePositions,
  CHANGES_TOPIC,
  type Channel,
  type ChangeEvent,
  type Message,
  type Position,
  type Subscription,
} from '../store/channel/types.js';
import {
  asPayload,
  type HandoverNote,
  requestStreamTopic,
  sessionTopic,
  type SessionMessage,
  type StreamMessage,
  taskTopic,
} from '../store/channel/topics.js';
import { isTerminal } from '../store/tasks/types.js';
import { encodeCursor, type StreamCursor } from './cursor.js';
import type { Sink } from './exchange.js';
import type { Exchange } from './exchange-router.js';
import { subscribedUri, watchedTask } from './state-keys.js';
import { taskNotification } from './tasks.js';
import { errorText, type Logger } from '../log.js';
import { MAX_TIMER_MS } from '../config/values.js';
import type { SessionRecord, SessionStore, StatePatch } from '../store/types.js';
import { SSE_HEADERS, sseEvent } from '../http/sse.js';

/** The first revision whose clients accept an event without data (a priming event). */
const FIRST_RESUMABLE_VERSION = '2025-11-25';
/** A comment this often keeps idle streams open through proxies. */
const KEEP_ALIVE_MS = 15_000;
/**
 * Soonest a stream looks at its session again after a look found it live: this instance's clock
 * and the store's agree only to a few milliseconds, so at the edge of the idle limit a look may
 * find the session live with a deadline that has already passed here.
 */
const MIN_LOOK_INTERVAL_MS = 250;
/** Events that may wait for a stream's client before the stream is ended (see `inboxLimit`). */
export const DEFAULT_INBOX_LIMIT = 1_000;

export interface StreamOptions {
  /** The reconnection delay advised to clients (SSE `retry`). */
  retryMs: number;
  /** Longest a standalone stream stays open; 0 for no limit. */
  timeoutMs: number;
  /**
   * Most messages a GET stream holds for a client that reads too slowly; one more ends the
   * stream (the client resumes after its last event, from what the channel keeps).
   */
  inboxLimit: number;
}

/**
 * What a write of `patch` announces on the session's topic: the resource subscriptions it
 * changes, if any (./state-keys.ts).
 */
export function subscriptionChange(patch: StatePatch): SessionMessage | undefined {
  const uris = (keys: string[]) => keys.map(subscribedUri).filter((uri) => uri !== undefined);
  const subscribed = uris(Object.keys(patch.set));
  const unsubscribed = uris(patch.unset);
  const tasks = Object.keys(patch.set)
    .map(watchedTask)
    .filter((id) => id !== undefined);
  if (subscribed.length === 0 && unsubscribed.length === 0 && tasks.length === 0) return undefined;
  return { kind: 'subscriptions', subscribed, unsubscribed, ...(tasks.length > 0 && { tasks }) };
}

export function resumable(session: Pick<SessionRecord, 'protocolVersion'>): boolean {
  return session.protocolVersion >= FIRST_RESUMABLE_VERSION;
}

const encoder = new TextEncoder();
const event = (message: unknown, id: string) => encoder.encode(sseEvent(message, id));
const priming = (id: string, retryMs: number) => encoder.encode(`id: ${id}\nretry: ${retryMs}\ndata: \n\n`);
const KEEP_ALIVE = encoder.encode(': keepalive\n\n');

/**
 * A request's event stream that can be resumed on any instance: created for a request of a
 * resumable session before its answer; `close()` (the tool's closeStream) ends the HTTP stream
 * and sends the rest through the channel.
 */
export class RequestStream {
  // Unique within its session (whose id is the secret); from randomUUID, which draws on a cached
  // pool of entropy, where a getRandomValues call per request was ~2% of a tools/call's CPU.
  readonly key: string;
  readonly topic: string;
  readonly #exchange: Exchange;
  readonly #channel: Channel;
  readonly #logger: Logger;
  #diverted = false;

  /** `key`: the stream goes on under the key it had (a handed-over call continued here). */
  constructor(exchange: Exchange, channel: Channel, logger: Logger, key?: string) {
    this.#exchange = exchange;
    this.#channel = channel;
    this.#logger = logger;
    this.key = key ?? crypto.randomUUID().replace(/-/g, '').slice(0, 16);
    this.topic = requestStreamTopic(exchange.sessionId, this.key);
  }

  /** Ends the HTTP stream now; the client comes back for the rest with Last-Event-ID. */
  close(): void {
    this.#divert();
    this.#exchange.closeStreams();
  }

  /**
   * The request's call was handed over (src/era-2025/handover.ts): the note goes on the stream's
   * topic, then the HTTP stream ends, so that the client resumes it where the call goes on.
   */
  async handOver(note: HandoverNote): Promise<void> {
    await this.#channel.publish(this.topic, asPayload({ last: false, handover: note }));
    this.#exchange.closeStreams();
  }

  /** The HTTP response: a priming event naming this stream, then what the SDK's transport writes. */
  wrap(response: Response, retryMs: number): Response {
    const inner = response.body!.getReader();
    const body = new ReadableStream<Uint8Array>({
      start: (controller) =>
        controller.enqueue(priming(encodeCursor({ kind: 'request', key: this.key, after: { at: 0, id: 0 } }), retryMs)),
      pull: async (controller) => {
        const { value, done } = await inner.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      // The client went away before the answer: keep the rest for when it comes back.
      cancel: async () => {
        this.#divert();
        await inner.cancel();
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  #divert(): void {
    if (this.#diverted) return;
    this.#diverted = this.#exchange.divert(new ChannelSink(this.#channel, this.topic, this.#logger));
  }
}

/** Writes a diverted exchange's messages on its stream's topic, in order. */
class ChannelSink implements Sink {
  readonly #channel: Channel;
  readonly #topic: string;
  readonly #logger: Logger;
  #queue: Promise<void> = Promise.resolve();

  constructor(channel: Channel, topic: string, logger: Logger) {
    this.#channel = channel;
    this.#topic = topic;
    this.#logger = logger;
  }

  write(message: JSONRPCMessage, last: boolean): Promise<void> {
    return this.#publish({ message, last });
  }

  end(): Promise<void> {
    return this.#publish({ last: true });
  }

  #publish(entry: StreamMessage): Promise<void> {
    this.#queue = this.#queue.then(() =>
      this.#channel.publish(this.#topic, asPayload(entry)).then(
        () => undefined,
        (error: unknown) => this.#logger.warn('stream event not stored; a resumed stream will miss it', { error: errorText(error) }),
      ),
    );
    return this.#queue;
  }
}

/** A queue of messages a stream waits on, with a bound on each wait and on its length. */
class Inbox {
  readonly #items: Message[] = [];
  readonly #limit: number;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** False when the inbox is full: the message was not taken. */
  push(message: Message): boolean {
    if (this.#closed) return true;
    if (this.#items.length >= this.#limit) return false;
    this.#items.push(message);
    this.#wake?.();
    return true;
  }

  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next message, 'idle' after `ms` without one, 'closed' once closed. */
  async next(ms: number): Promise<Message | 'idle' | 'closed'> {
    if (this.#items.length > 0) return this.#items.shift()!;
    if (this.#closed) return 'closed';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
    if (this.#items.length > 0) return this.#items.shift()!;
    return this.#closed ? 'closed' : 'idle';
  }
}

/** What a change event becomes on a session's stream; undefined when it is not for this session. */
function changeNotification(change: ChangeEvent): JSONRPCNotification | undefined {
  const params = change.params ?? {};
  switch (change.kind) {
    case 'tools_list_changed':
      return { jsonrpc: '2.0', method: 'notifications/tools/list_changed', params };
    case 'prompts_list_changed':
      return { jsonrpc: '2.0', method: 'notifications/prompts/list_changed', params };
    case 'resources_list_changed':
      return { jsonrpc: '2.0', method: 'notifications/resources/list_changed', params };
    case 'resource_updated':
      return { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { ...params, uri: change.uri } };
    default:
      return undefined;
  }
}

/** The GET streams this instance serves; all end when the instance drains. */
export class SessionStreams {
  readonly #open = new Set<GetStream>();

  constructor(
    private readonly store: SessionStore,
    private readonly logger: Logger,
    private readonly options: StreamOptions,
  ) {}

  /** How many GET streams this instance serves right now. */
  get size(): number {
    return this.#open.size;
  }

  /** Ends every stream (shutdown: clients reconnect elsewhere with Last-Event-ID). */
  closeAll(): void {
    for (const stream of [...this.#open]) stream.close();
  }

  /**
   * Listens on the topics of a GET stream of session `sessionId` (resumed after `cursor`) before
   * its session is opened, so that what is published while the store opens it reaches the stream
   * (on pg, a message announced before a subscription exists is not delivered to it). Hand it to
   * `open`, or release it when the session does not open.
   */
  listen(sessionId: string, cursor: StreamCursor | undefined): EarlyListen {
    const session = sessionTopic(sessionId);
    const topics = cursor?.kind === 'request' ? [requestStreamTopic(sessionId, cursor.key), session] : [CHANGES_TOPIC, session];
    return new EarlyListen(this.store.channel, topics);
  }

  /**
   * A GET stream for an opened session: resumed after `cursor`, or the standalone stream from
   * `at` (the store's clock when the session was opened) on, on the topics `early` listens to.
   */
  open(
    session: SessionRecord,
    at: number,
    cursor: StreamCursor | undefined,
    early: EarlyListen,
    onHandover?: (note: HandoverNote) => void,
  ): Response {
    const stream: GetStream = new GetStream(session, at, cursor, early, {
      store: this.store,
      logger: this.logger,
      options: this.options,
      ended: () => this.#open.delete(stream),
      ...(onHandover && { onHandover }),
    });
    this.#open.add(stream);
    return stream.response;
  }
}

interface GetStreamContext {
  store: SessionStore;
  logger: Logger;
  options: StreamOptions;
  /** Called once the stream has ended, whichever way. */
  ended: () => void;
  /** A resumed request stream came upon the note of a call handed over in a drain. */
  onHandover?: (note: HandoverNote) => void;
}

/**
 * A GET stream's subscriptions, made before its session was opened: passive until then (a polling
 * channel reads nothing for them alone), holding what they hear for the stream.
 */
export class EarlyListen {
  readonly subscriptions: readonly Subscription[];
  #held: Message[] = [];
  #push: ((message: Message) => void) | undefined;

  constructor(channel: Channel, topics: string[]) {
    const hear = (message: Message) => (this.#push ? this.#push(message) : this.#held.push(message));
    this.subscriptions = topics.map((topic) => channel.subscribe(topic, hear, { passive: true }));
  }

  /**
   * From now on messages go to `push`, what was held first; the subscriptions become active from
   * `at` (the store's clock when the session was opened).
   */
  hand(push: (message: Message) => void, at: number): void {
    this.#push = push;
    for (const message of this.#held.splice(0)) push(message);
    for (const subscription of this.subscriptions) subscription.setPassive(false, at);
  }

  release(): void {
    this.#held = [];
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }
}

/**
 * One GET stream: the session's standalone stream (fresh or resumed), or a request's stream
 * resumed after its cursor. It replays what the channel kept after the cursor, then delivers what
 * comes live, within its limits (its session's life, `timeoutMs`, the inbox), until it ends.
 */
class GetStream {
  readonly response: Response;
  readonly #session: SessionRecord;
  readonly #store: SessionStore;
  readonly #logger: Logger;
  readonly #options: StreamOptions;
  readonly #ended: () => void;
  readonly #onHandover: ((note: HandoverNote) => void) | undefined;
  /** The resumed request stream's key and topic; undefined for the standalone stream. */
  readonly #request: { key: string; topic: string } | undefined;
  readonly #sessionTopic: string;
  /** The topics this stream carries, each with where its replay starts. */
  readonly #from: ReadonlyMap<string, Position>;
  /** The last position sent of each topic: what event ids say, and what drops a message heard twice. */
  readonly #positions: Map<string, Position>;
  readonly #inbox: Inbox;
  readonly #subscriptions: readonly Subscription[];
  /** The resources the session is subscribed to, as far as this stream knows. */
  readonly #subscribed = new Set<string>();
  /**
   * The session's tasks whose status changes this stream announces, each with its subscription and
   * what it announced last (status and time of the change), so that nothing is announced twice.
   */
  readonly #tasks = new Map<string, { subscription: Subscription; last?: string }>();
  /** The store's clock when the session was opened: where task subscriptions start. */
  readonly #at: number;
  /** Whether the stream has read the stored subscriptions since it opened (see the constructor). */
  #settled = false;
  /** How far the store's clock is ahead of this instance's, as seen when the session was opened. */
  readonly #storeAhead: number;
  /** When `timeoutMs` ends the stream (this instance's clock). */
  readonly #deadline: number;
  /** When the session's lifetime ends. */
  readonly #expires: number;
  /** When the session's idle limit passes, unless a request of the session moved it since. */
  #endsAt: number;
  /** What the channel kept after the cursor, not yet sent; read on the first pull. */
  #replay: Message[] | undefined;
  /** When a comment is due to keep an idle stream open through proxies. */
  #keepAliveAt: number;
  #lifetime: ReturnType<typeof setTimeout> | undefined;
  #controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor(session: SessionRecord, at: number, cursor: StreamCursor | undefined, early: EarlyListen, context: GetStreamContext) {
    this.#session = session;
    this.#store = context.store;
    this.#logger = context.logger;
    this.#options = context.options;
    this.#ended = context.ended;
    this.#onHandover = context.onHandover;
    this.#inbox = new Inbox(this.#options.inboxLimit);
    this.#at = at;
    this.#sessionTopic = sessionTopic(session.id);
    this.#request = cursor?.kind === 'request' ? { key: cursor.key, topic: requestStreamTopic(session.id, cursor.key) } : undefined;
    this.#from =
      cursor?.kind === 'request'
        ? new Map([[this.#request!.topic, cursor.after]])
        : new Map([
            [CHANGES_TOPIC, cursor?.kind === 'session' ? cursor.changes : { at, id: 0 }],
            [this.#sessionTopic, cursor?.kind === 'session' ? cursor.session : { at, id: 0 }],
          ]);
    // Live first (listening since before the session was opened), then what was kept: nothing
    // published in between is lost, and the positions drop what arrives both ways. A resumed
    // request stream listens to its session's topic too, for the session's end.
    this.#positions = new Map(this.#from);
    this.#subscriptions = early.subscriptions;
    early.hand((message) => this.#push(message), at);
    // The session's resource subscriptions as it opened; changes come on the session's topic.
    // One made as the stream opens may be in neither: stored after the open read the session,
    // announced before the stream listened (delivery that does not read the table from `at`
    // drops it). So the first update for a resource the stream does not know makes it look at the
    // stored subscriptions once (a look at the idle limit does too); from then on what it hears
    // is complete, and applying announcements it had heard already changes nothing.
    this.#learn(session.state);
    if (!this.#request) this.#watchTasks(session.state);
    this.#deadline = this.#options.timeoutMs > 0 ? Date.now() + this.#options.timeoutMs : Number.POSITIVE_INFINITY;
    // The stream ends with its session. Its lifetime ends at a known time; its idle limit moves
    // with every request of the session, wherever served, so when it passes the stream looks at
    // the stored session once, and goes on until the new limit if it is still live. Times of the
    // store's clock are turned into this instance's by the difference seen as the session opened.
    this.#storeAhead = at / 1000 - Date.now();
    this.#expires = session.expiresAt.getTime() - this.#storeAhead;
    this.#endsAt = this.#store.endsAt(session) - this.#storeAhead;
    this.#replay = cursor ? undefined : [];
    this.#keepAliveAt = Date.now() + KEEP_ALIVE_MS;

    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        // A fresh stream says where it starts, so that a client that loses it before any event
        // still resumes from here.
        if (!this.#request && resumable(session)) controller.enqueue(priming(this.#eventId(), this.#options.retryMs));
      },
      pull: () => this.#pull(),
      cancel: () => this.#stop(),
    });
    // The lifetime ends the stream even while its client reads nothing (the pulls look only when
    // the client reads). Beyond what a timer can hold, their look is enough.
    const untilExpiry = this.#expires - Date.now();
    if (untilExpiry < MAX_TIMER_MS) {
      this.#lifetime = setTimeout(
        () => {
          this.#logger.debug('event stream ended with its session', { session: session.id.slice(0, 8) });
          this.close();
        },
        Math.max(0, untilExpiry),
      );
    }
    this.#logger.debug('event stream opened', { session: session.id.slice(0, 8), resumes: cursor?.kind ?? 'none' });
    this.response = new Response(body, { status: 200, headers: { ...SSE_HEADERS, 'mcp-session-id': session.id } });
  }

  /** Ends the stream: the client resumes it with Last-Event-ID, on any instance. */
  close(): void {
    this.#stop();
    try {
      this.#controller.close();
    } catch {
      // already closed or cancelled
    }
  }

  /** Lets go of what the stream holds; the HTTP stream itself is closed (or cancelled) by the caller. */
  #stop(): void {
    clearTimeout(this.#lifetime);
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    for (const { subscription } of this.#tasks.values()) subscription.unsubscribe();
    this.#tasks.clear();
    this.#inbox.close();
    this.#ended();
  }

  /** Takes a live message for the client. */
  #push(message: Message): void {
    if (this.#inbox.push(message)) return;
    // The client reads more slowly than events come. Holding on for it would grow without
    // bound; ending the stream makes it resume after its last event, from what the channel
    // keeps, at its own pace.
    this.#logger.info('event stream ended: its client fell too far behind; it resumes from its last event', {
      session: this.#session.id.slice(0, 8),
      waiting: this.#options.inboxLimit,
    });
    this.close();
  }

  /** Sends the next event when the client reads: what was kept first, then what comes live. */
  async #pull(): Promise<void> {
    try {
      this.#replay ??= await this.#store.channel.read(this.#from);
      for (;;) {
        // Checked before every event too, so that a busy stream ends on time as well.
        if (!(await this.#withinLimits())) return this.close();
        const next = this.#replay.length > 0 ? this.#replay.shift()! : await this.#inbox.next(this.#nextLook() - Date.now());
        if (next === 'closed') return;
        if (next === 'idle') {
          // Woken for a keep-alive, or to check the limits again.
          if (Date.now() < this.#keepAliveAt) continue;
          this.#send(KEEP_ALIVE);
          return;
        }
        const { body, end } = await this.#translate(next);
        if (body !== undefined) this.#send(event(body, this.#eventId()));
        if (end) return this.close();
        if (body !== undefined) return;
      }
    } catch (error) {
      this.#logger.warn('event stream ended by a store failure; the client resumes it', { error: errorText(error) });
      this.close();
    }
  }

  #send(chunk: Uint8Array): void {
    this.#controller.enqueue(chunk);
    this.#keepAliveAt = Date.now() + KEEP_ALIVE_MS;
  }

  /** The soonest a keep-alive or a limit is due: how long a wait for the next message may last. */
  #nextLook(): number {
    return Math.min(this.#keepAliveAt, this.#deadline, this.#endsAt);
  }

  /** Whether the stream may go on: its time limit not reached, its session live. */
  async #withinLimits(): Promise<boolean> {
    if (Date.now() >= this.#deadline) return false;
    if (await this.#sessionLive()) return true;
    this.#logger.debug('event stream ended with its session', { session: this.#session.id.slice(0, 8) });
    return false;
  }

  /** Whether the session is still live (at most one statement, when its idle limit has passed). */
  async #sessionLive(): Promise<boolean> {
    const now = Date.now();
    if (now < this.#endsAt) return true;
    if (now >= this.#expires) return false;
    const current = await this.#look();
    if (!current) return false;
    this.#endsAt = Math.max(this.#store.endsAt(current) - this.#storeAhead, Date.now() + MIN_LOOK_INTERVAL_MS);
    return true;
  }

  /** The stored session, undefined once it ended; what it is subscribed to is known completely from then on. */
  async #look(): Promise<SessionRecord | undefined> {
    const current = await this.#store.live(this.#session.id);
    if (!current) return undefined;
    this.#learn(current.state);
    this.#settled = true;
    return current;
  }

  #learn(state: Record<string, unknown>): void {
    this.#subscribed.clear();
    for (const key of Object.keys(state)) {
      const uri = subscribedUri(key);
      if (uri !== undefined) this.#subscribed.add(uri);
    }
  }

  /** The id of the next event: the cursor of what has been sent. */
  #eventId(): string {
    return this.#request
      ? encodeCursor({ kind: 'request', key: this.#request.key, after: this.#positions.get(this.#request.topic)! })
      : encodeCursor({ kind: 'session', changes: this.#positions.get(CHANGES_TOPIC)!, session: this.#positions.get(this.#sessionTopic)! });
  }

  /**
   * Listens to the status changes of the session's tasks named in its state (those not expired),
   * from when the session was opened. Only the standalone stream does.
   */
  #watchTasks(state: Record<string, unknown>): void {
    const now = Date.now() + this.#storeAhead;
    for (const [key, expires] of Object.entries(state)) {
      const id = watchedTask(key);
      if (id !== undefined && typeof expires === 'number' && expires > now) this.#watchTask(id, false);
    }
  }

  /**
   * Listens to a task's changes. `look`: a task created while the stream is open may have changed
   * before the stream heard of it (its creation is announced after it started), so the stream
   * looks at it once as if it had heard a change.
   */
  #watchTask(taskId: string, look: boolean): void {
    if (this.#tasks.has(taskId) || this.#inbox.closed) return;
    const topic = taskTopic(taskId);
    const subscription = this.#store.channel.subscribe(topic, (message) => this.#push(message), { since: this.#at });
    this.#tasks.set(taskId, { subscription });
    // Position 0 marks the look (no message of the channel has it).
    if (look) this.#push({ topic, payload: asPayload({ kind: 'task', status: 'working' }), position: { at: 0, id: 0 } });
  }

  /** A change of one of the session's tasks: the task as it is now, read from the store, unless announced already. */
  async #taskChange(taskId: string, look: boolean): Promise<{ body?: unknown; end: boolean }> {
    const watched = this.#tasks.get(taskId);
    if (!watched) return { end: false };
    const task = await this.#store.tasks.get(taskId, { credentialHash: this.#session.credentialHash, sessionId: this.#session.id });
    // A look at a task that is still as it was created: nothing changed yet.
    if (look && task?.status === 'working') return { end: false };
    if (!task || isTerminal(task.status)) {
      watched.subscription.unsubscribe();
      this.#tasks.delete(taskId);
    }
    const notification = task && taskNotification(task);
    const seen = notification && `${notification.params.status} ${notification.params.lastUpdatedAt}`;
    if (!notification || seen === watched.last) return { end: false };
    watched.last = seen;
    return { body: notification, end: false };
  }

  /** What a message sends (undefined: nothing), and whether the stream ends after it (or without it). */
  async #translate(message: Message): Promise<{ body?: unknown; end: boolean }> {
    const taskId = taskOf(message.topic);
    if (taskId !== undefined) return this.#taskChange(taskId, message.position.at === 0);
    const known = this.#positions.get(message.topic);
    if (known === undefined) {
      // The session's topic of a resumed request stream: only its end matters.
      return { end: (message.payload as unknown as SessionMessage)?.kind === 'ended' };
    }
    if (comparePositions(message.position, known) <= 0) return { end: false };
    this.#positions.set(message.topic, message.position);
    if (this.#request) {
      const entry = message.payload as unknown as StreamMessage;
      // Nothing for the client: the call goes on, and what it sends comes on this topic.
      if (entry.handover) {
        this.#onHandover?.(entry.handover);
        return { end: false };
      }
      return { body: entry.message, end: entry.last };
    }
    if (message.topic === CHANGES_TOPIC) return this.#change(message.payload as unknown as ChangeEvent);
    return this.#sessionEvent(message.payload as unknown as SessionMessage);
  }

  /** A change announced to every session: a resource update only for the resources this one subscribed to. */
  async #change(change: ChangeEvent): Promise<{ body?: unknown; end: boolean }> {
    if (change.kind === 'resource_updated' && !this.#subscribed.has(change.uri)) {
      if (this.#settled) return { end: false };
      if (!(await this.#look())) return { end: true };
      if (!this.#subscribed.has(change.uri)) return { end: false };
    }
    return { body: changeNotification(change), end: false };
  }

  /** An event of this session's topic: a notification, a change of its subscriptions, its end. */
  #sessionEvent(event: SessionMessage): { body?: unknown; end: boolean } {
    if (event.kind === 'ended') return { end: true };
    if (event.kind === 'notification') return { body: event.message, end: false };
    if (event.kind === 'subscriptions') {
      for (const uri of event.subscribed) this.#subscribed.add(uri);
      for (const uri of event.unsubscribed) this.#subscribed.delete(uri);
      for (const taskId of event.tasks ?? []) this.#watchTask(taskId, true);
    }
    return { end: false };
  }
}

/** The task a topic is about, if it is a task's topic. */
function taskOf(topic: string): string | undefined {
  const prefix = taskTopic('');
  return topic.startsWith(prefix) ? topic.slice(prefix.length) : undefined;
}
