// The channel of the database store, written once over the message table (baton.messages) for
// every driver. This core keeps the subscriptions, publishes, reads, sweeps and delivers; only the
// wake-up (how a message stored by any instance comes to be delivered here) differs by driver:
//   notify (pg)        NOTIFY in the statement that stores a message, one LISTENing connection
//                      per instance, checked and reconnected; polls meanwhile (wakeup-notify.ts)
//   poll (neon-http)   reads the table once per `poll_interval` while something is subscribed,
//                      one statement for all its subscriptions (wakeup-poll.ts)
//   local (pglite)     one process: the publisher delivers what it stored itself (wakeup-local.ts)
//
// Ordering: publishing takes a transaction-level advisory lock on the topic before it stamps the
// message (`at`, from clock_timestamp()) and inserts it, so within a topic `at`, `id` and commit
// order agree. A reader that has seen position p of a topic has seen everything before p, which
// is what makes "after position p" a safe place to resume from.
import { is, SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { messages } from '../db/schema.js';
import type { Logger } from '../../log.js';
import { channelDelivered } from '../../telemetry/channel.js';
import {
  comparePositions,
  type Channel,
  type Json,
  type Message,
  type Position,
  type SubscribeOptions,
  type Subscription,
} from './types.js';
import { LocalWakeup } from './wakeup-local.js';
import { announcement, NotifyWakeup } from './wakeup-notify.js';
import { PollWakeup } from './wakeup-poll.js';
import { NOW_US, toMessage, type Run, type Sub, type Subscribers, type WakeupStrategy } from './wakeup.js';

export type Wakeup = 'notify' | 'poll' | 'local';

export interface DatabaseChannelOptions {
  wakeup: Wakeup;
  /** poll (and notify while not listening): how often a subscribed instance reads the table. */
  pollIntervalMs: number;
  /** How long messages are kept (for resumption) before the cleanup removes them. */
  retentionMs: number;
  /** notify: the first wait before trying to listen again (doubling up to 10 s). */
  relistenDelayMs?: number;
  /** notify: why listening cannot deliver here, if it cannot (asked once, before listening). */
  pollBecause?: () => Promise<string | undefined>;
  logger: Logger;
}

/** Advisory lock class of topic locks (the second key is the topic's hash). */
const TOPIC_LOCK_CLASS = 0x62746e;
const READ_LIMIT = 10_000;

/**
 * The common table expressions that publish one message within a larger statement, run once per
 * row of `when` (another CTE's name) or once without it: `published` holds the stored rows, and
 * `notified` must be referenced by the statement for the NOTIFY to happen. `topic`, and `payload`
 * when given as SQL, may be expressions over the row of `when` (one message per row).
 */
export function publishing(topic: string | SQL, payload: Json | SQL, wakeup: Wakeup, when?: string): SQL {
  const source = when ? sql.raw(`from ${when}`) : sql``;
  const body = is(payload, SQL) ? payload : sql`${JSON.stringify(payload)}`;
  return sql`
    topic_lock as (
      select t.topic, t.payload, pg_advisory_xact_lock(${TOPIC_LOCK_CLASS}::int4, hashtext(t.topic))
      from (select (${topic})::text as topic, (${body})::jsonb as payload ${source}) t
    ),
    published as (
      insert into ${messages} (topic, at, payload)
      select topic, ${NOW_US}, payload from topic_lock
      returning id, topic, at, payload
    ),
    notified as (select ${wakeup === 'notify' ? announcement() : sql`1`} from published p)`;
}

/**
 * What a larger statement that embeds `publishing` selects: `notified` (so that the NOTIFY
 * happens) and where the message was stored, for `publishedBy` to read from its row.
 */
export const PUBLISHED_COLUMNS = sql`(select count(*) from notified)::int as notified,
  (select p.id from published p) as message_id, (select p.at from published p) as message_at`;

export class DatabaseChannel implements Channel {
  readonly delivery: Channel['delivery'];
  readonly wakeup: Wakeup;
  readonly #subs = new Set<Sub>();
  readonly #run: Run;
  readonly #retentionMs: number;
  readonly #wakeup: WakeupStrategy;
  #closed = false;

  constructor(database: Database, run: Run, options: DatabaseChannelOptions) {
    this.#run = run;
    this.#retentionMs = options.retentionMs;
    this.wakeup = options.wakeup;
    this.delivery = options.wakeup === 'local' ? 'in-process' : options.wakeup;
    // The wake-up sees the subscriptions and delivers, through this view; nothing else can.
    const channel: Subscribers = {
      subs: this.#subs,
      closed: () => this.#closed,
      deliver: (message) => this.#deliver(message),
      subscribed: (topic) => this.#subscribed(topic),
      read: (after) => this.read(after),
    };
    this.#wakeup =
      options.wakeup === 'notify'
        ? new NotifyWakeup(channel, database, run, options)
        : options.wakeup === 'poll'
          ? new PollWakeup(channel, run, { intervalMs: options.pollIntervalMs, logger: options.logger })
          : new LocalWakeup(channel);
  }

  /** Opens what the wake-up needs (pg: the listening connection; the store's ready() waits for it). Never fails. */
  start(): Promise<void> {
    return this.#wakeup.start?.() ?? Promise.resolve();
  }

  async publish(topic: string, payload: Json): Promise<Position> {
    const [row] = await this.#run(sql`with ${publishing(topic, payload, this.wakeup)}
      select p.id, p.at, (select count(*) from notified)::int as notified from published p`);
    const position = { at: Number(row!.at), id: Number(row!.id) };
    this.published({ topic, payload, position });
    return position;
  }

  /**
   * A message this instance stored (by `publish`, or inside another statement such as a session's
   * removal): local wake-up delivers it here; the other wake-ups reach subscribers on their own.
   */
  published(message: Message): void {
    this.#wakeup.published?.(message);
  }

  /** After a statement that selected PUBLISHED_COLUMNS: its message, if it stored one, as `published`. */
  publishedBy(row: Record<string, unknown> | undefined, topic: string, payload: Json): void {
    if (row?.message_id === null || row?.message_id === undefined) return;
    this.published({ topic, payload, position: { at: Number(row.message_at), id: Number(row.message_id) } });
  }

  subscribe(topic: string, listener: (message: Message) => void, options: SubscribeOptions = {}): Subscription {
    const sub: Sub = {
      topic,
      listener,
      cursor: options.since === undefined ? undefined : { at: options.since, id: 0 },
      active: true,
      passive: options.passive === true,
    };
    this.#subs.add(sub);
    this.#wakeup.subscribed?.(sub);
    return {
      unsubscribe: () => {
        sub.active = false;
        this.#subs.delete(sub);
        this.#wakeup.released?.(sub);
      },
      setPassive: (passive, since) => {
        if (!sub.active || passive === sub.passive) return;
        sub.passive = passive;
        if (passive) this.#wakeup.released?.(sub);
        else {
          if (since !== undefined) sub.cursor ??= { at: since, id: 0 };
          this.#wakeup.activated?.(sub);
        }
      },
    };
  }

  async read(after: ReadonlyMap<string, Position>): Promise<Message[]> {
    if (after.size === 0) return [];
    const from = Math.min(...[...after.values()].map((p) => p.at));
    const rows = await this.#run(sql`
      select id, topic, at, payload from ${messages}
      where topic in (select jsonb_array_elements_text(${JSON.stringify([...after.keys()])}::jsonb)) and at >= ${from}
      order by at, id limit ${READ_LIMIT}`);
    return rows.map(toMessage).filter((m) => comparePositions(m.position, after.get(m.topic)!) > 0);
  }

  /** Removes messages older than the retention, at most `batchSize`; returns how many. */
  async sweep(batchSize: number): Promise<number> {
    const [row] = await this.#run(sql`
      with doomed as (
        select id from ${messages} where at < ${NOW_US} - ${this.#retentionMs * 1000} limit ${batchSize}
      ), deleted as (delete from ${messages} m using doomed d where m.id = d.id returning 1)
      select count(*)::int as n from deleted`);
    return Number(row?.n ?? 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const sub of this.#subs) sub.active = false;
    this.#subs.clear();
    await this.#wakeup.close?.();
  }

  #deliver(message: Message): void {
    let delivered = false;
    for (const sub of this.#subs) {
      if (!sub.active || sub.topic !== message.topic) continue;
      if (sub.cursor && comparePositions(message.position, sub.cursor) <= 0) continue;
      sub.cursor = message.position;
      delivered = true;
      sub.listener(message);
    }
    if (delivered) channelDelivered(message.topic, message.position.at, this.wakeup);
  }

  #subscribed(topic: string): boolean {
    for (const sub of this.#subs) if (sub.topic === topic) return true;
    return false;
  }
}
