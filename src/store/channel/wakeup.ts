// What the database channel (database.ts) and its wake-ups share. The channel keeps the
// subscriptions, stores, reads and delivers; a wake-up is how a message stored by any instance
// comes to be delivered here: wakeup-notify.ts (pg), wakeup-poll.ts (neon-http, and pg while it
// does not listen), wakeup-local.ts (pglite).
import { sql, type SQL } from 'drizzle-orm';
import { messages } from '../db/schema.js';
import type { Json, Message, Position } from './types.js';

/** Runs one statement through the store (migrated, errors classified). */
export type Run = (statement: SQL, name?: string) => Promise<Record<string, unknown>[]>;

/** A subscription as the channel keeps it. */
export interface Sub {
  topic: string;
  listener: (message: Message) => void;
  /** Last position delivered (or the start); undefined: everything live (notify, without since). */
  cursor: Position | undefined;
  active: boolean;
  /** poll: read only along with other subscriptions. */
  passive: boolean;
}

/** The channel as its wake-up sees it. */
export interface Subscribers {
  /** The subscriptions (each leaves the set as it ends). */
  readonly subs: ReadonlySet<Sub>;
  closed(): boolean;
  /** Hands a message to each active subscription of its topic that is not past it yet. */
  deliver(message: Message): void;
  /** Whether some subscription is for the topic. */
  subscribed(topic: string): boolean;
  /** What the topics kept after the positions (Channel.read). */
  read(after: ReadonlyMap<string, Position>): Promise<Message[]>;
}

/** What a wake-up is told; what it does not need it leaves out. */
export interface WakeupStrategy {
  /** Opens what it needs (pg: the listening connection); never fails. */
  start?(): Promise<void>;
  /** A subscription was made (it may be passive). */
  subscribed?(sub: Sub): void;
  /** A passive subscription became active. */
  activated?(sub: Sub): void;
  /** A subscription ended or became passive. */
  released?(sub: Sub): void;
  /** A message this instance stored. */
  published?(message: Message): void;
  /** The channel closed; its subscriptions have ended already. */
  close?(): Promise<void>;
}

/** The store's clock in microseconds since the epoch: what stamps a message's `at`. */
export const NOW_US = sql.raw('(extract(epoch from clock_timestamp()) * 1000000)::int8');

/** A row of the message table (id, topic, at, payload) as a message. */
export function toMessage(row: Record<string, unknown>): Message {
  return {
    topic: String(row.topic),
    payload: messages.payload.mapFromDriverValue(row.payload) as Json,
    position: { at: Number(row.at), id: Number(row.id) },
  };
}
