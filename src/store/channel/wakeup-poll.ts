// The poll wake-up of the database channel: HTTP cannot LISTEN (neon-http), and pg cannot while its
// listening connection is down or useless, so while something is subscribed the instance reads
// the table once per `poll_interval`, one statement for all its subscriptions (a page of rows per
// topic; a topic that fills its page is read on alone). A subscription is first read one interval
// after it starts, so a request that ends sooner costs nothing. Polls are driven by the
// subscriptions' own timers (each in the request that subscribed, as Workers require) and shared:
// one in flight serves all, and is awaited only by the request that started it.
import { sql } from 'drizzle-orm';
import { messages } from '../db/schema.js';
import { errorText, type Logger } from '../../log.js';
import { comparePositions } from './types.js';
import { NOW_US, toMessage, type Run, type Sub, type Subscribers, type WakeupStrategy } from './wakeup.js';

/** A subscription without `since` starts this long before the first read. */
const FRESH_MARGIN_US = 2_000_000;
/** Rows one poll reads per topic. */
const POLL_LIMIT = 500;
/** A poll still in flight after this many intervals (and at least POLL_GIVE_UP_MIN_MS) is given up. */
const POLL_GIVE_UP_INTERVALS = 4;
const POLL_GIVE_UP_MIN_MS = 2_000;

export interface PollOptions {
  intervalMs: number;
  logger: Logger;
  /** Whether messages arrive by polling now (pg: only while it does not listen); always by default. */
  polls?: () => boolean;
}

export class PollWakeup implements WakeupStrategy {
  readonly #channel: Subscribers;
  readonly #run: Run;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #polls: () => boolean;
  /** The subscriptions a driver runs for, with the driver's pending wait. */
  readonly #drivers = new Map<Sub, { wake?: () => void }>();
  #polling: Promise<void> | undefined;
  #lastPoll = 0;

  constructor(channel: Subscribers, run: Run, options: PollOptions) {
    this.#channel = channel;
    this.#run = run;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
    this.#polls = options.polls ?? (() => true);
  }

  subscribed(sub: Sub): void {
    this.drive(sub);
  }

  activated(sub: Sub): void {
    this.drive(sub);
  }

  released(sub: Sub): void {
    this.#drivers.get(sub)?.wake?.();
  }

  async close(): Promise<void> {
    this.wakeAll();
  }

  /** Keeps polls coming for `sub` if messages arrive by polling and it waits for some. */
  drive(sub: Sub): void {
    if (this.#polls() && !this.#channel.closed() && !this.#drivers.has(sub) && sub.active && !sub.passive) void this.#drive(sub);
  }

  /** Every subscription waiting for messages polls (pg stopped listening). */
  driveAll(): void {
    for (const sub of this.#channel.subs) this.drive(sub);
  }

  /** Ends the drivers' waits, so that they see whether they are still needed (pg listens again). */
  wakeAll(): void {
    for (const driver of this.#drivers.values()) driver.wake?.();
  }

  /** Polls at the shared cadence while `sub` is active (and, on pg, while not listening). */
  async #drive(sub: Sub): Promise<void> {
    const driver: { wake?: () => void } = {};
    this.#drivers.set(sub, driver);
    try {
      let due = Math.max(Date.now() + this.#intervalMs, this.#lastPoll + this.#intervalMs);
      while (sub.active && !sub.passive && this.#polls()) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, due - Date.now()));
          driver.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        driver.wake = undefined;
        if (!sub.active || sub.passive || !this.#polls()) return;
        // Only the request that starts a poll awaits it: on Workers a poll ends with the request
        // that started it, and another request awaiting its promise would wait forever. A poll in
        // flight reads for every subscription anyway; the others look again an interval later.
        const started = this.#startPoll();
        if (started) await started;
        due = started || !this.#polling ? Math.max(Date.now(), this.#lastPoll + this.#intervalMs) : Date.now() + this.#intervalMs;
      }
    } finally {
      this.#drivers.delete(sub);
    }
  }

  /**
   * Starts a poll unless one started within the interval, or one is in flight; one in flight
   * for longer than POLL_GIVE_UP_INTERVALS intervals is taken to be gone with its request.
   */
  #startPoll(): Promise<void> | undefined {
    const wait = this.#polling ? Math.max(POLL_GIVE_UP_INTERVALS * this.#intervalMs, POLL_GIVE_UP_MIN_MS) : this.#intervalMs;
    if (Date.now() < this.#lastPoll + wait) return undefined;
    this.#lastPoll = Date.now();
    const polling: Promise<void> = this.#poll()
      .catch((error: unknown) =>
        this.#logger.warn('channel: reading messages failed; next try at the next interval', { error: errorText(error) }),
      )
      .finally(() => {
        if (this.#polling === polling) this.#polling = undefined;
      });
    this.#polling = polling;
    return polling;
  }

  async #poll(): Promise<void> {
    // Each topic is read a page at a time. A topic whose page was full is read on from its own
    // last row; the others were read to the end. No topic may skip ahead past what it read: a
    // message of another topic stamped earlier may still commit.
    let only: Set<string> | undefined;
    for (;;) {
      const active = [...this.#channel.subs].filter((s) => s.active);
      if (!active.some((s) => !s.passive) || !this.#polls()) return;
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
        this.#channel.deliver(message);
      }
      only = new Set([...read].filter(([, count]) => count >= POLL_LIMIT).map(([topic]) => topic));
      if (only.size === 0) return;
    }
  }
}
