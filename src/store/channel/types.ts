// The channel: how the instances of one platform send each other messages through the session
// store, the one thing they all share. A small publish/subscribe of named topics with JSON
// payloads, written once over the store and delivered per driver:
//   pg         LISTEN/NOTIFY on a connection of its own (payloads too large for NOTIFY are read
//              from the message table by id);
//   neon-http  no LISTEN over HTTP: the waiting side reads the message table at a bounded cadence
//              (`channel.poll_interval`), and only while something is subscribed;
//   pglite     one process: delivered in process, kept in the message table;
//   memory     one process: delivered and kept in process.
// Every message is kept for `channel.retention` (Postgres: table baton.messages, swept by the
// store's cleanup), so that a stream can be resumed after a position on any instance.
//
// This file is the channel's whole public surface: the 2025 session layer (src/era-2025/exchange-router.ts,
// src/era-2025/streams.ts) and the 2026 leg's ServerEventBus build on these types only.

/** What a payload may hold: JSON. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Where a message sits in its topic's history. Within one topic, later messages have greater
 * positions (compare `at`, then `id`); positions of different topics are not comparable.
 */
export interface Position {
  /** Microseconds since the epoch on the store's clock, when the message was published. */
  at: number;
  /** The message's number; 0 for a point in time between messages. */
  id: number;
}

export interface Message {
  topic: string;
  payload: Json;
  position: Position;
}

export interface SubscribeOptions {
  /**
   * The store's clock (microseconds since the epoch, as `OpenResult.at` gives it) from which
   * messages are wanted. Messages published before it are never delivered. Without it, a polling
   * channel starts a little before its first read, which may deliver a few messages published
   * just before subscribing. A subscription that knows where it is (it has a `since`, or has
   * received a message) also gets, when pg's listening connection comes back after it was lost
   * or could not be opened, what was published meanwhile.
   */
  since?: number;
  /**
   * Polling channels: deliver what reads made for other subscriptions bring, but never read for
   * this one alone, so that it costs nothing while the instance waits for nothing else (see
   * `Subscription.setPassive`). Other channels deliver as always.
   */
  passive?: boolean;
}

export interface Subscription {
  /** Stops delivery. Safe to call more than once. */
  unsubscribe(): void;
  /**
   * Switches between passive and active (see SubscribeOptions.passive). On becoming active,
   * `since` says from where messages are wanted if the subscription has not read any yet.
   */
  setPassive(passive: boolean, since?: number): void;
}

export interface Channel {
  /** How messages reach subscribers (see the top of this file). */
  readonly delivery: 'in-process' | 'notify' | 'poll';
  /**
   * Publishes a message on a topic: stored, then delivered to every subscriber of the topic on
   * every instance. One store statement. Resolves once stored, with the message's position.
   */
  publish(topic: string, payload: Json): Promise<Position>;
  /**
   * Delivers the topic's messages to `listener`, in publishing order, from `since` (or about now)
   * until `unsubscribe`. Every message published after `subscribe` returns is delivered once;
   * messages published between `since` and that moment may be. Listeners must not throw; they
   * are called with no request context of their own, so they hand work over rather than do it.
   */
  subscribe(topic: string, listener: (message: Message) => void, options?: SubscribeOptions): Subscription;
  /**
   * The messages still kept (published within the retention) of each topic after the given
   * position, oldest first per topic: what a resumed stream missed. One store statement.
   */
  read(after: ReadonlyMap<string, Position>): Promise<Message[]>;
  /** Stops every subscription and lets go of what delivery holds (pg: the listening connection). */
  close(): Promise<void>;
}

/** Orders two positions of one topic: negative when `a` comes first. */
export function comparePositions(a: Position, b: Position): number {
  return a.at - b.at || a.id - b.id;
}

/**
 * Platform-wide change events, on the topic `CHANGES_TOPIC`. The shape is the SDK v2's
 * `ServerEvent` (`@modelcontextprotocol/server`), so that a `ServerEventBus` for 2026-07-28
 * `subscriptions/listen` streams can carry them as they are; the 2025 session layer turns them
 * into `notifications/*` on each session's GET stream (resource updates only for sessions
 * subscribed to the resource).
 */
export type ChangeEvent = (
  | { kind: 'tools_list_changed' }
  | { kind: 'prompts_list_changed' }
  | { kind: 'resources_list_changed' }
  | { kind: 'resource_updated'; uri: string }
) & {
  /** Extra notification params, passed on as they are. */
  params?: { [key: string]: Json };
};

export const CHANGES_TOPIC = 'changes';

/** Announces changes on every instance (tools, application code, `baton notify`). */
export interface ChangeNotifier {
  /** `notifications/tools/list_changed` to every open stream. */
  toolsChanged(): Promise<void>;
  /** `notifications/prompts/list_changed` to every open stream. */
  promptsChanged(): Promise<void>;
  /** `notifications/resources/list_changed` to every open stream. */
  resourcesChanged(): Promise<void>;
  /** `notifications/resources/updated` for `uri`, to the streams of sessions subscribed to it. */
  resourceUpdated(uri: string): Promise<void>;
}
