// The channel of the database store, written once over the message table (baton.messages) for
// every driver; only the wake-up differs:
//   notify (pg)        each message is announced with NOTIFY in the statement that stores it; one
//                      connection per instance LISTENs. The announcement carries the payload when
//                      it fits NOTIFY's 8000 bytes, else only the id, and the payload is read by id
//                      (only by instances subscribed to the topic). Listening is checked, not
//                      assumed: the instance sends itself a notification and waits for it (behind a
//                      pooler in transaction mode without a direct URL nothing arrives, and the
//                      instance polls for good). While the connection cannot be opened (or was
//                      lost), it is retried with back-off and the instance polls meanwhile; once
//                      it is back subscriptions read what they missed from the table.
//   poll (neon-http)   HTTP cannot LISTEN: while something is subscribed, the instance reads the
//                      table once per `poll_interval`, one statement for all its subscriptions
//                      (a page of rows per topic; a topic that fills its page is read on alone). A
//                      subscription is first read one interval after it starts, so a request that
//                      ends sooner costs nothing. Polls are driven by the subscriptions' own timers
//                      (each in the request that subscribed, as Workers require) and shared.
//   local (pglite)     one process: the publisher delivers what it stored itself.
//
// Ordering: publishing takes a transaction-level advisory lock on the topic before it stamps the
// message (`at`, from clock_timestamp()) and inserts it, so within a topic `at`, `id` and commit
// order agree. A reader that has seen position p of a topic has seen everything before p, which
// is what makes "after position p" a safe place to resume from.
import { sql, type SQL } from 'drizzle-orm';
import type { Database, Listener } from '../db/database.js';
import { messages } from '../db/schema.js';
import { errorText, type Logger } from '../log.js';
import {
  comparePositions,
  type Channel,
  type Json,
  type Message,
  type Position,
  type SubscribeOptions,
  type Subscription,
} from './types.js';

export type Wakeup = 'notify' | 'poll' | 'local';

export interface DatabaseChannelOptions {
  wakeup: Wakeup;
  /** poll: how often a subscribed instance reads the table. */
  pollIntervalMs: number;
  /** How long messages are kept (for resumption) before the cleanup removes them. */
  retentionMs: number;
  /** notify: the first wait before trying to listen again (doubling up to 10 s). */
  relistenDelayMs?: number;
  /** notify: why listening cannot deliver here, if it cannot (asked once, before listening). */
  pollBecause?: () => Promise<string | undefined>;
  logger: Logger;
}

/** Runs one statement through the store (migrated, errors classified). */
export type Run = (statement: SQL, name?: string) => Promise<Record<string, unknown>[]>;

const NOTIFY_CHANNEL = 'baton_messages';
/** NOTIFY payloads must stay under 8000 bytes; the envelope around the payload needs a few hundred. */
const NOTIFY_PAYLOAD_BYTES = 7_000;
/** Advisory lock class of topic locks (the second key is the topic's hash). */
const TOPIC_LOCK_CLASS = 0x62746e;
/** A subscription without `since` starts this long before the first read (polling). */
const FRESH_MARGIN_US = 2_000_000;
/** Rows one poll reads per topic. */
const POLL_LIMIT = 500;
const READ_LIMIT = 10_000;
const FIRST_RELISTEN_MS = 500;
const RECONNECT_MAX_MS = 10_000;
/** How long the notification an instance sends itself may take before LISTEN counts as not delivering. */
const PROBE_TIMEOUT_MS = 3_000;

const NOW_US = sql.raw('(extract(epoch from clock_timestamp()) * 1000000)::int8');

interface Sub {
  topic: string;
  listener: (message: Message) => void;
  /** Last position delivered (or the start); undefined: everything live (notify, without since). */
  cursor: Position | undefined;
  active: boolean;
  /** poll: read only along with other subscriptions. */
  passive: boolean;
  /** poll: the pending wait of this subscription's driver. */
  wake?: () => void;
  /** poll: a driver is running for it. */
  driving: boolean;
}

/**
 * The common table expressions that publish one message within a larger statement, run once per
 * row of `when` (another CTE's name) or once without it: `published` holds the stored rows, and
 * `notified` must be referenced by the statement for the NOTIFY to happen. `topic` may be an
 * expression over the row of `when` (one topic per row).
 */
export function publishing(topic: string | SQL, payload: Json, wakeup: Wakeup, when?: string): SQL {
  const source = when ? sql.raw(`from ${when}`) : sql``;
  return sql`
    topic_lock as (
      select t.topic, pg_advisory_xact_lock(${TOPIC_LOCK_CLASS}::int4, hashtext(t.topic))
      from (select (${topic})::text as topic ${source}) t
    ),
    published as (
      insert into ${messages} (topic, at, payload)
      select topic, ${NOW_US}, ${JSON.stringify(payload)}::jsonb from topic_lock
      returning id, topic, at, payload
    ),
    notified as (select ${announcing(wakeup)} from published p)`;
}

/** What wakes the other instances for a row of `published p`: NOTIFY on pg, nothing otherwise. */
function announcing(wakeup: Wakeup): SQL {
  if (wakeup !== 'notify') return sql`1`;
  return sql`pg_notify(${NOTIFY_CHANNEL}, json_build_object('i', p.id, 't', p.topic, 'a', p.at,
      'f', octet_length(p.payload::text) > ${NOTIFY_PAYLOAD_BYTES},
      'p', case when octet_length(p.payload::text) <= ${NOTIFY_PAYLOAD_BYTES} then p.payload end)::text)`;
}

export class DatabaseChannel implements Channel {
  readonly delivery: Channel['delivery'];
  readonly #subs = new Set<Sub>();
  readonly #database: Database;
  readonly #run: Run;
  readonly #options: DatabaseChannelOptions;
  readonly #logger: Logger;
  #closed = false;
  // notify
  /** The first attempt to listen (start()); later ones are the retries of `#relistening`. */
  #started: Promise<void> | undefined;
  #listener: Listener | undefined;
  /** Trying to listen again, with back-off, then catching up; close() waits for it to give up. */
  #relistening: Promise<void> | undefined;
  /** Ends the back-off wait in progress (close() calls it, so no timer outlives the channel). */
  #stopWaiting: (() => void) | undefined;
  /** Notifications are handled one after another, so that a payload read by id keeps its place. */
  #inbox: Promise<void> = Promise.resolve();
  /** LISTEN was checked and delivers nothing here (a pooler without a direct URL): poll for good. */
  #listenUseless = false;
  /** The notification this instance sent itself, while it waits for it. */
  #probe: { id: string; arrived: () => void } | undefined;
  // poll
  #polling: Promise<void> | undefined;
  #lastPoll = 0;

  constructor(database: Database, run: Run, options: DatabaseChannelOptions) {
    this.#database = database;
    this.#run = run;
    this.#options = options;
    this.#logger = options.logger;
    this.delivery = options.wakeup === 'local' ? 'in-process' : options.wakeup;
  }

  get wakeup(): Wakeup {
    return this.#options.wakeup;
  }

  /**
   * notify: opens the listening connection (the store's ready() waits for this first attempt),
   * unless `pollBecause` says why listening cannot work here. Never fails: an instance that cannot
   * listen still serves requests, and its subscriptions poll until a retry succeeds.
   */
  start(): Promise<void> {
    if (this.#options.wakeup !== 'notify' || this.#closed) return Promise.resolve();
    this.#started ??= this.#firstListen();
    return this.#started;
  }

  async #firstListen(): Promise<void> {
    const because = await this.#options.pollBecause?.().catch(() => undefined);
    if (because !== undefined) {
      this.#pollForGood(because);
      return;
    }
    await this.#listen().catch((error: unknown) => {
      this.#logger.warn('channel: cannot listen yet; retrying in the background, and reading messages by polling meanwhile', {
        retryInMs: this.#options.relistenDelayMs ?? FIRST_RELISTEN_MS,
        error: errorText(error),
      });
      this.#pollMeanwhile();
      this.#keepListening();
    });
  }

  async publish(topic: string, payload: Json): Promise<Position> {
    const [row] = await this.#run(sql`with ${publishing(topic, payload, this.#options.wakeup)}
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
    if (this.#options.wakeup !== 'local') return;
    const copy: Message = { ...message, payload: structuredClone(message.payload) };
    queueMicrotask(() => this.#deliver(copy));
  }

  subscribe(topic: string, listener: (message: Message) => void, options: SubscribeOptions = {}): Subscription {
    const sub: Sub = {
      topic,
      listener,
      cursor: options.since === undefined ? undefined : { at: options.since, id: 0 },
      active: true,
      passive: options.passive === true,
      driving: false,
    };
    this.#subs.add(sub);
    if (!sub.passive) this.#driveIfPolling(sub);
    // Subscribing wants delivery: listen now if the store's ready() has not opened the connection
    // yet (servers call it at start, so there the connection is already open).
    if (this.#options.wakeup === 'notify' && this.#started === undefined && !this.#closed) void this.start();
    return {
      unsubscribe: () => {
        sub.active = false;
        this.#subs.delete(sub);
        sub.wake?.();
      },
      setPassive: (passive, since) => {
        if (!sub.active || passive === sub.passive) return;
        sub.passive = passive;
        if (passive) sub.wake?.();
        else {
          if (since !== undefined) sub.cursor ??= { at: since, id: 0 };
          this.#driveIfPolling(sub);
        }
      },
    };
  }

  /** Messages arrive by reading the table: on neon-http always, on pg while it is not listening. */
  get #polls(): boolean {
    const { wakeup } = this.#options;
    return wakeup === 'poll' || (wakeup === 'notify' && this.#listener === undefined && this.#started !== undefined);
  }

  #driveIfPolling(sub: Sub): void {
    if (this.#polls && !this.#closed && !sub.driving && sub.active && !sub.passive) void this.#drive(sub);
  }

  /** pg stopped listening: the subscriptions waiting for messages poll until it listens again. */
  #pollMeanwhile(): void {
    for (const sub of this.#subs) this.#driveIfPolling(sub);
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
        select id from ${messages} where at < ${NOW_US} - ${this.#options.retentionMs * 1000} limit ${batchSize}
      ), deleted as (delete from ${messages} m using doomed d where m.id = d.id returning 1)
      select count(*)::int as n from deleted`);
    return Number(row?.n ?? 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const sub of this.#subs) {
      sub.active = false;
      sub.wake?.();
    }
    this.#subs.clear();
    this.#stopWaiting?.();
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.close().catch(() => {});
    // An attempt to listen that is under way closes its connection when it sees the channel closed.
    await Promise.all([this.#started, this.#relistening]);
  }

  #deliver(message: Message): void {
    for (const sub of this.#subs) {
      if (!sub.active || sub.topic !== message.topic) continue;
      if (sub.cursor && comparePositions(message.position, sub.cursor) <= 0) continue;
      sub.cursor = message.position;
      sub.listener(message);
    }
  }

  #subscribed(topic: string): boolean {
    for (const sub of this.#subs) if (sub.topic === topic) return true;
    return false;
  }

  // ---- notify ----

  async #listen(): Promise<void> {
    if (!this.#database.listen) throw new Error('this driver cannot LISTEN');
    const listener = await this.#database.listen(NOTIFY_CHANNEL, (text) => this.#notified(text));
    if (this.#closed) {
      await listener.close();
      return;
    }
    let delivers: boolean;
    try {
      delivers = await this.#delivers();
    } catch (error) {
      await listener.close().catch(() => {});
      throw error;
    }
    if (!delivers) {
      await listener.close().catch(() => {});
      this.#pollForGood(`LISTEN on the ${listener.direct ? 'direct' : 'configured'} URL delivered nothing (a pooler in transaction mode?)`);
      return;
    }
    if (this.#closed) {
      await listener.close();
      return;
    }
    this.#listener = listener;
    for (const sub of this.#subs) sub.wake?.();
    void listener.lost.then((error) => this.#reconnect(listener, error));
  }

  #pollForGood(because: string): void {
    this.#listenUseless = true;
    this.#logger.warn(
      `channel: messages between instances are read from the table every ${this.#options.pollIntervalMs} ms (channel.poll_interval), not notified: ${because}. For notifications, give a URL without a pooler in database.direct_dsn (DATABASE_DIRECT_URL)`,
    );
    this.#pollMeanwhile();
  }

  /** Sends this instance a notification through the statements' connection and waits for it. */
  async #delivers(): Promise<boolean> {
    const id = crypto.randomUUID();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      this.#probe = { id, arrived: () => resolve(true) };
      timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    });
    try {
      // Straight to the database: the store's statements wait for its ready(), which waits for this.
      await this.#database.query(sql`select pg_notify(${NOTIFY_CHANNEL}, ${JSON.stringify({ probe: id })})`);
      return await arrived;
    } finally {
      clearTimeout(timer);
      this.#probe = undefined;
    }
  }

  #notified(text: string): void {
    let note: { i: number; t: string; a: number; f: boolean; p: Json; probe?: string };
    try {
      note = JSON.parse(text);
    } catch {
      this.#logger.warn('channel: unreadable notification ignored');
      return;
    }
    if (note.probe !== undefined) {
      if (note.probe === this.#probe?.id) this.#probe.arrived();
      return;
    }
    if (!this.#subscribed(note.t)) return;
    this.#inbox = this.#inbox.then(async () => {
      let payload = note.p;
      if (note.f) {
        try {
          const [row] = await this.#run(sql`select payload from ${messages} where id = ${note.i}`);
          if (!row) return; // swept already
          payload = messages.payload.mapFromDriverValue(row.payload) as Json;
        } catch (error) {
          this.#logger.warn('channel: a large message could not be read', { error: errorText(error) });
          return;
        }
      }
      this.#deliver({ topic: note.t, payload, position: { at: Number(note.a), id: Number(note.i) } });
    });
  }

  /** The listening connection broke: listen again, then read what was published meanwhile. */
  #reconnect(lost: Listener, error: Error): void {
    if (this.#closed || this.#listener !== lost) return;
    this.#listener = undefined;
    this.#logger.warn('channel: the listening connection was lost; reconnecting, and reading messages by polling meanwhile', {
      error: errorText(error),
    });
    this.#pollMeanwhile();
    this.#keepListening();
  }

  /**
   * Starts trying to listen again. Called when the first attempt failed or a listener was lost,
   * so no other loop is still trying (one may be catching up, which is fine).
   */
  #keepListening(): void {
    const loop = this.#relisten();
    this.#relistening = loop;
    void loop.finally(() => {
      if (this.#relistening === loop) this.#relistening = undefined;
    });
  }

  async #relisten(): Promise<void> {
    for (let delay = this.#options.relistenDelayMs ?? FIRST_RELISTEN_MS; ; delay = Math.min(delay * 2, RECONNECT_MAX_MS)) {
      if (!(await this.#backOff(delay))) return;
      try {
        await this.#listen();
        if (this.#listenUseless) return;
        break;
      } catch (retry) {
        this.#logger.warn('channel: listening failed, retrying', {
          retryInMs: Math.min(delay * 2, RECONNECT_MAX_MS),
          error: errorText(retry),
        });
      }
    }
    if (this.#closed) return;
    this.#logger.info('channel: listening again');
    // Subscriptions that know where they are get what they missed; the cursor drops duplicates.
    const after = new Map<string, Position>();
    for (const sub of this.#subs) {
      if (!sub.cursor) continue;
      const known = after.get(sub.topic);
      if (!known || comparePositions(sub.cursor, known) < 0) after.set(sub.topic, sub.cursor);
    }
    this.#inbox = this.#inbox.then(async () => {
      try {
        for (const message of await this.read(after)) this.#deliver(message);
      } catch (failure) {
        this.#logger.warn('channel: catching up after listening again failed', { error: errorText(failure) });
      }
    });
  }

  /** Waits `ms` unless the channel closes first; true when it is still open. */
  #backOff(ms: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#stopWaiting = undefined;
        resolve(!this.#closed);
      }, ms);
      this.#stopWaiting = () => {
        clearTimeout(timer);
        this.#stopWaiting = undefined;
        resolve(false);
      };
    });
  }

  // ---- poll ----

  /** Keeps polls coming while `sub` is active, at the shared cadence (and, on pg, while not listening). */
  async #drive(sub: Sub): Promise<void> {
    sub.driving = true;
    try {
      await this.#driveLoop(sub);
    } finally {
      sub.driving = false;
    }
  }

  async #driveLoop(sub: Sub): Promise<void> {
    const interval = this.#options.pollIntervalMs;
    let due = Math.max(Date.now() + interval, this.#lastPoll + interval);
    while (sub.active && !sub.passive && this.#polls) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, due - Date.now()));
        sub.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      sub.wake = undefined;
      if (!sub.active || sub.passive || !this.#polls) return;
      await this.#pollShared();
      due = Math.max(Date.now(), this.#lastPoll + interval);
    }
  }

  #pollShared(): Promise<void> {
    if (this.#polling) return this.#polling;
    if (Date.now() < this.#lastPoll + this.#options.pollIntervalMs) return Promise.resolve();
    this.#lastPoll = Date.now();
    this.#polling = this.#poll()
      .catch((error: unknown) =>
        this.#logger.warn('channel: reading messages failed; next try at the next interval', { error: errorText(error) }),
      )
      .finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  async #poll(): Promise<void> {
    // Each topic is read a page at a time. A topic whose page was full is read on from its own
    // last row; the others were read to the end. No topic may skip ahead past what it read: a
    // message of another topic stamped earlier may still commit.
    let only: Set<string> | undefined;
    for (;;) {
      const active = [...this.#subs].filter((s) => s.active);
      if (!active.some((s) => !s.passive) || !this.#polls) return;
      const subs = only ? active.filter((s) => only!.has(s.topic)) : active;
      // Each topic is read after its own earliest cursor; a subscription that has none yet starts
      // a little before now.
      const cursors = new Map<string, { at: number | null; id: number; fresh: boolean }>();
      for (const sub of subs) {
        const cursor = cursors.get(sub.topic) ?? { at: null, id: 0, fresh: false };
        if (!sub.cursor) cursor.fresh = true;
        else if (cursor.at === null || comparePositions(sub.cursor, { at: cursor.at, id: cursor.id }) < 0) {
          cursor.at = sub.cursor.at;
          cursor.id = sub.cursor.id;
        }
        cursors.set(sub.topic, cursor);
      }
      if (cursors.size === 0) return;
      const json = JSON.stringify([...cursors].map(([topic, c]) => ({ topic, at: c.at, id: c.id, fresh: c.fresh })));
      const rows = await this.#run(sql`
        with clock as (select ${NOW_US} as now)
        select k.now, m.id, m.topic, m.at, m.payload
        from clock k left join lateral (
          select m.id, m.topic, m.at, m.payload
          from jsonb_to_recordset(${json}::jsonb) as c(topic text, at int8, id int8, fresh boolean)
          cross join lateral (
            select case when c.fresh and (c.at is null or c.at >= k.now - ${FRESH_MARGIN_US}) then k.now - ${FRESH_MARGIN_US} else c.at end as at,
                   case when c.fresh and (c.at is null or c.at >= k.now - ${FRESH_MARGIN_US}) then 0 else c.id end as id
          ) s
          cross join lateral (
            select m.id, m.topic, m.at, m.payload from ${messages} m
            where m.topic = c.topic and (m.at, m.id) > (s.at, s.id)
            order by m.at, m.id limit ${POLL_LIMIT}
          ) m
        ) m on true
        order by m.at, m.id`);
      const now = Number(rows[0]?.now);
      for (const sub of subs) sub.cursor ??= { at: now - FRESH_MARGIN_US, id: 0 };
      const read = new Map<string, number>();
      for (const row of rows) {
        if (row.id === null || row.id === undefined) continue;
        const message = toMessage(row);
        read.set(message.topic, (read.get(message.topic) ?? 0) + 1);
        this.#deliver(message);
      }
      only = new Set([...read].filter(([, count]) => count >= POLL_LIMIT).map(([topic]) => topic));
      if (only.size === 0) return;
    }
  }
}

function toMessage(row: Record<string, unknown>): Message {
  return {
    topic: String(row.topic),
    payload: messages.payload.mapFromDriverValue(row.payload) as Json,
    position: { at: Number(row.at), id: Number(row.id) },
  };
}
