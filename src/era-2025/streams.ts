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
//   and an unsubscribe counts at once. Its events are kept in the store for `channel.retention`, so a client reconnecting
//   with Last-Event-ID (to any instance) gets what it missed, and nothing twice. A client that
//   reads more slowly than events come has its stream ended once `inboxLimit` events wait for it;
//   it resumes from its last event like any other.
//
// Event ids say where to resume: `r.<key>.<position>` for a request's stream, `g.<position of the
// change topic>.<position of the session's topic>` for the standalone stream (a position is
// `<at>.<id>` in base 36, see src/store/channel/types.ts).
import type { JSONRPCMessage, JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';
import { comparePositions, CHANGES_TOPIC, type Channel, type ChangeEvent, type Message, type Position } from '../store/channel/types.js';
import { asPayload, requestStreamTopic, sessionTopic, type SessionMessage, type StreamMessage } from '../store/channel/topics.js';
import type { Exchange, Sink } from './exchange.js';
import { STATE_KEYS } from './server.js';
import { errorText, type Logger } from '../log.js';
import { MAX_TIMER_MS } from '../config/values.js';
import { newSessionId } from './ids.js';
import type { SessionRecord, SessionStore, StatePatch } from '../store/types.js';

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
 * changes, if any (src/era-2025/server.ts records them under STATE_KEYS.subscriptionPrefix).
 */
export function subscriptionChange(patch: StatePatch): SessionMessage | undefined {
  const prefix = STATE_KEYS.subscriptionPrefix;
  const subscribed = Object.keys(patch.set)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length));
  const unsubscribed = patch.unset.filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length));
  if (subscribed.length === 0 && unsubscribed.length === 0) return undefined;
  return { kind: 'subscriptions', subscribed, unsubscribed };
}

export type StreamCursor = { kind: 'request'; key: string; after: Position } | { kind: 'session'; changes: Position; session: Position };

const encodePosition = (p: Position) => `${p.at.toString(36)}.${p.id.toString(36)}`;

export function encodeCursor(cursor: StreamCursor): string {
  return cursor.kind === 'request'
    ? `r.${cursor.key}.${encodePosition(cursor.after)}`
    : `g.${encodePosition(cursor.changes)}.${encodePosition(cursor.session)}`;
}

/** The cursor a Last-Event-ID names, or undefined when it is none of ours. */
export function decodeCursor(text: string): StreamCursor | undefined {
  const number = (part: string | undefined) => (part !== undefined && /^[0-9a-z]{1,13}$/.test(part) ? parseInt(part, 36) : NaN);
  const parts = text.split('.');
  if (parts[0] === 'r' && parts.length === 4 && /^[A-Za-z0-9_-]{8,64}$/.test(parts[1]!)) {
    const after = { at: number(parts[2]), id: number(parts[3]) };
    if (Number.isSafeInteger(after.at) && Number.isSafeInteger(after.id)) return { kind: 'request', key: parts[1]!, after };
  }
  if (parts[0] === 'g' && parts.length === 5) {
    const [changes, session] = [
      { at: number(parts[1]), id: number(parts[2]) },
      { at: number(parts[3]), id: number(parts[4]) },
    ];
    if ([changes.at, changes.id, session.at, session.id].every(Number.isSafeInteger)) return { kind: 'session', changes, session };
  }
  return undefined;
}

export function resumable(session: Pick<SessionRecord, 'protocolVersion'>): boolean {
  return session.protocolVersion >= FIRST_RESUMABLE_VERSION;
}

const encoder = new TextEncoder();
const event = (message: unknown, id: string) => encoder.encode(`event: message\nid: ${id}\ndata: ${JSON.stringify(message)}\n\n`);
const priming = (id: string, retryMs: number) => encoder.encode(`id: ${id}\nretry: ${retryMs}\ndata: \n\n`);
const KEEP_ALIVE = encoder.encode(': keepalive\n\n');

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

/**
 * A request's event stream that can be resumed on any instance: created for a request of a
 * resumable session before its answer; `close()` (the tool's closeStream) ends the HTTP stream
 * and sends the rest through the channel.
 */
export class RequestStream {
  readonly key = newSessionId().slice(0, 16);
  readonly topic: string;
  #diverted = false;

  constructor(
    private readonly exchange: Exchange,
    private readonly channel: Channel,
    private readonly logger: Logger,
  ) {
    this.topic = requestStreamTopic(exchange.sessionId, this.key);
  }

  /** Ends the HTTP stream now; the client comes back for the rest with Last-Event-ID. */
  close(): void {
    this.#divert();
    // The SDK's stream ends once what was written to it is read: nothing sent before is lost.
    for (const id of this.exchange.open) this.exchange.inner.closeSSEStream(id);
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
    if (this.#diverted || this.exchange.over) return;
    this.#diverted = true;
    this.exchange.divert(new ChannelSink(this.channel, this.topic, this.logger));
  }
}

/** Writes a diverted exchange's messages on its stream's topic, in order. */
class ChannelSink implements Sink {
  #queue: Promise<void> = Promise.resolve();
  constructor(
    private readonly channel: Channel,
    private readonly topic: string,
    private readonly logger: Logger,
  ) {}

  write(message: JSONRPCMessage, last: boolean): Promise<void> {
    return this.#publish({ message, last });
  }

  end(): Promise<void> {
    return this.#publish({ last: true });
  }

  #publish(entry: StreamMessage): Promise<void> {
    this.#queue = this.#queue.then(() =>
      this.channel.publish(this.topic, asPayload(entry)).then(
        () => undefined,
        (error: unknown) => this.logger.warn('stream event not stored; a resumed stream will miss it', { error: errorText(error) }),
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
  readonly #open = new Set<() => void>();

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
    for (const close of [...this.#open]) close();
  }

  /**
   * A GET stream for an opened session: resumed after `cursor`, or the standalone stream from
   * `at` (the store's clock when the session was opened) on.
   */
  open(session: SessionRecord, at: number, cursor: StreamCursor | undefined): Response {
    const channel = this.store.channel;
    const inbox = new Inbox(this.options.inboxLimit);
    const push = (message: Message) => {
      if (inbox.push(message)) return;
      // The client reads more slowly than events come. Holding on for it would grow without
      // bound; ending the stream makes it resume after its last event, from what the channel
      // keeps, at its own pace.
      this.logger.info('event stream ended: its client fell too far behind; it resumes from its last event', {
        session: session.id.slice(0, 8),
        waiting: this.options.inboxLimit,
      });
      close();
    };
    const request = cursor?.kind === 'request';
    const topics = request
      ? new Map([[requestStreamTopic(session.id, cursor.key), cursor.after]])
      : new Map([
          [CHANGES_TOPIC, cursor?.kind === 'session' ? cursor.changes : { at, id: 0 }],
          [sessionTopic(session.id), cursor?.kind === 'session' ? cursor.session : { at, id: 0 }],
        ]);
    // Live first, then what was kept: nothing published in between is lost, and the positions
    // below drop what arrives both ways.
    const subscriptions = [...topics.keys()].map((topic) => channel.subscribe(topic, push, { since: at }));
    if (request) subscriptions.push(channel.subscribe(sessionTopic(session.id), push, { since: at }));
    const positions = new Map(topics);
    // The session's resource subscriptions as it opened; changes come on the session's topic.
    // One made as the stream opens may be in neither: stored after the open read the session,
    // announced before the stream listened (delivery that does not read the table from `at`
    // drops it). So the first update for a resource the stream does not know makes it look at the
    // stored subscriptions once (a look at the idle limit does too); from then on what it hears
    // is complete, and applying announcements it had heard already changes nothing.
    const subscribed = new Set<string>();
    const learn = (state: Record<string, unknown>) => {
      subscribed.clear();
      for (const key of Object.keys(state)) {
        if (key.startsWith(STATE_KEYS.subscriptionPrefix)) subscribed.add(key.slice(STATE_KEYS.subscriptionPrefix.length));
      }
    };
    learn(session.state);
    let settled = false;
    const deadline = this.options.timeoutMs > 0 ? Date.now() + this.options.timeoutMs : Number.POSITIVE_INFINITY;
    // The stream ends with its session. Its lifetime ends at a known time; its idle limit moves
    // with every request of the session, wherever served, so when it passes the stream looks at
    // the stored session once, and goes on until the new limit if it is still live. Times of the
    // store's clock are turned into this instance's by the difference seen as the session opened.
    const storeAhead = at / 1000 - Date.now();
    const expires = session.expiresAt.getTime() - storeAhead;
    let endsAt = this.store.endsAt(session) - storeAhead;
    /** Whether the session is still live (at most one statement, when its idle limit has passed). */
    const sessionLive = async (): Promise<boolean> => {
      const now = Date.now();
      if (now < endsAt) return true;
      if (now >= expires) return false;
      const current = await this.store.live(session.id);
      if (!current) return false;
      endsAt = Math.max(this.store.endsAt(current) - storeAhead, Date.now() + MIN_LOOK_INTERVAL_MS);
      learn(current.state);
      settled = true;
      return true;
    };
    const idOf = (): string =>
      request
        ? encodeCursor({ kind: 'request', key: cursor.key, after: positions.get(requestStreamTopic(session.id, cursor.key))! })
        : encodeCursor({ kind: 'session', changes: positions.get(CHANGES_TOPIC)!, session: positions.get(sessionTopic(session.id))! });

    let close!: () => void;
    let lifetime: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      clearTimeout(lifetime);
      for (const s of subscriptions) s.unsubscribe();
      inbox.close();
      this.#open.delete(close);
    };
    let replay: Message[] | undefined = cursor ? undefined : [];
    /** When a comment is due to keep an idle stream open through proxies. */
    let keepAliveAt = Date.now() + KEEP_ALIVE_MS;

    /** The event for a message, or undefined to skip it; 'end' when the stream ends after it (or without it). */
    const translate = async (message: Message): Promise<{ body?: unknown; end: boolean }> => {
      const known = positions.get(message.topic);
      if (known === undefined) {
        // The session's topic of a resumed request stream: only its end matters.
        return { end: (message.payload as unknown as SessionMessage)?.kind === 'ended' };
      }
      if (comparePositions(message.position, known) <= 0) return { end: false };
      positions.set(message.topic, message.position);
      if (request) {
        const entry = message.payload as unknown as StreamMessage;
        return { body: entry.message, end: entry.last };
      }
      if (message.topic === CHANGES_TOPIC) {
        const change = message.payload as unknown as ChangeEvent;
        if (change.kind === 'resource_updated' && !subscribed.has(change.uri)) {
          if (settled) return { end: false };
          const current = await this.store.live(session.id);
          if (!current) return { end: true };
          learn(current.state);
          settled = true;
          if (!subscribed.has(change.uri)) return { end: false };
        }
        return { body: changeNotification(change), end: false };
      }
      const event = message.payload as unknown as SessionMessage;
      if (event.kind === 'ended') return { end: true };
      if (event.kind === 'notification') return { body: event.message, end: false };
      if (event.kind === 'subscriptions') {
        for (const uri of event.subscribed) subscribed.add(uri);
        for (const uri of event.unsubscribed) subscribed.delete(uri);
      }
      return { end: false };
    };

    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        close = () => {
          stop();
          try {
            controller.close();
          } catch {
            // already closed or cancelled
          }
        };
        this.#open.add(close);
        // A fresh stream says where it starts, so that a client that loses it before any event
        // still resumes from here.
        if (!request && resumable(session)) controller.enqueue(priming(idOf(), this.options.retryMs));
      },
      pull: async (controller) => {
        try {
          replay ??= await channel.read(topics);
          for (;;) {
            // Checked before every event too, so that a busy stream ends on time as well.
            if (Date.now() >= deadline) return close();
            if (!(await sessionLive())) {
              this.logger.debug('event stream ended with its session', { session: session.id.slice(0, 8) });
              return close();
            }
            const wait = Math.min(keepAliveAt, deadline, endsAt) - Date.now();
            const next = replay.length > 0 ? replay.shift()! : await inbox.next(wait);
            if (next === 'closed') return;
            if (next === 'idle') {
              // Woken for a keep-alive, or to check the limits above again.
              if (Date.now() < keepAliveAt) continue;
              controller.enqueue(KEEP_ALIVE);
              keepAliveAt = Date.now() + KEEP_ALIVE_MS;
              return;
            }
            const { body, end } = await translate(next);
            if (body !== undefined) {
              controller.enqueue(event(body, idOf()));
              keepAliveAt = Date.now() + KEEP_ALIVE_MS;
            }
            if (end) return close();
            if (body !== undefined) return;
          }
        } catch (error) {
          this.logger.warn('event stream ended by a store failure; the client resumes it', { error: errorText(error) });
          close();
        }
      },
      cancel: () => stop(),
    });
    // The lifetime ends the stream even while its client reads nothing (the loop above looks only
    // when the client reads). Beyond what a timer can hold, the loop's look is enough.
    const untilExpiry = expires - Date.now();
    if (untilExpiry < MAX_TIMER_MS) {
      lifetime = setTimeout(
        () => {
          this.logger.debug('event stream ended with its session', { session: session.id.slice(0, 8) });
          close();
        },
        Math.max(0, untilExpiry),
      );
    }
    this.logger.debug('event stream opened', { session: session.id.slice(0, 8), resumes: cursor?.kind ?? 'none' });
    return new Response(body, { status: 200, headers: { ...SSE_HEADERS, 'mcp-session-id': session.id } });
  }
}
