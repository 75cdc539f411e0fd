// The notify wake-up of the database channel (pg): each message is announced with NOTIFY in the
// statement that stores it; one connection per instance LISTENs. The announcement carries the
// payload when it fits NOTIFY's 8000 bytes, else only the id, and the payload is read by id (only
// by instances subscribed to the topic). Listening is checked, not assumed: the instance sends
// itself a notification and waits for it (behind a pooler in transaction mode without a direct
// URL nothing arrives, and the instance polls for good). While the connection cannot be opened
// (or was lost), it is retried with back-off and the instance polls meanwhile; once it is back
// subscriptions read what they missed from the table.
import { sql, type SQL } from 'drizzle-orm';
import type { Database, Listener } from '../db/database.js';
import { messages } from '../db/schema.js';
import { errorText, type Logger } from '../../log.js';
import { comparePositions, type Json, type Position } from './types.js';
import { PollWakeup } from './wakeup-poll.js';
import type { Run, Sub, Subscribers, WakeupStrategy } from './wakeup.js';

const NOTIFY_CHANNEL = 'baton_messages';
/** NOTIFY payloads must stay under 8000 bytes; the envelope around the payload needs a few hundred. */
const NOTIFY_PAYLOAD_BYTES = 7_000;
const FIRST_RELISTEN_MS = 500;
const RECONNECT_MAX_MS = 10_000;
/** How long the notification an instance sends itself may take before LISTEN counts as not delivering. */
const PROBE_TIMEOUT_MS = 3_000;

/** The NOTIFY that announces a row of `published p` to the listening instances. */
export function announcement(): SQL {
  return sql`pg_notify(${NOTIFY_CHANNEL}, json_build_object('i', p.id, 't', p.topic, 'a', p.at,
      'f', octet_length(p.payload::text) > ${NOTIFY_PAYLOAD_BYTES},
      'p', case when octet_length(p.payload::text) <= ${NOTIFY_PAYLOAD_BYTES} then p.payload end)::text)`;
}

export interface NotifyOptions {
  /** How often subscriptions read the table while the instance does not listen. */
  pollIntervalMs: number;
  /** The first wait before trying to listen again (doubling up to 10 s). */
  relistenDelayMs?: number;
  /** Why listening cannot deliver here, if it cannot (asked once, before listening). */
  pollBecause?: () => Promise<string | undefined>;
  logger: Logger;
}

export class NotifyWakeup implements WakeupStrategy {
  readonly #channel: Subscribers;
  readonly #database: Database;
  readonly #run: Run;
  readonly #options: NotifyOptions;
  readonly #logger: Logger;
  /** Reads the table while the instance does not listen. */
  readonly #poll: PollWakeup;
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

  constructor(channel: Subscribers, database: Database, run: Run, options: NotifyOptions) {
    this.#channel = channel;
    this.#database = database;
    this.#run = run;
    this.#options = options;
    this.#logger = options.logger;
    // Messages arrive by reading the table once listening was tried and while it does not listen.
    this.#poll = new PollWakeup(channel, run, {
      intervalMs: options.pollIntervalMs,
      logger: options.logger,
      polls: () => this.#listener === undefined && this.#started !== undefined,
    });
  }

  /**
   * Opens the listening connection (the store's ready() waits for this first attempt), unless
   * `pollBecause` says why listening cannot work here. Never fails: an instance that cannot listen
   * still serves requests, and its subscriptions poll until a retry succeeds.
   */
  start(): Promise<void> {
    if (this.#channel.closed()) return Promise.resolve();
    this.#started ??= this.#firstListen();
    return this.#started;
  }

  subscribed(sub: Sub): void {
    this.#poll.drive(sub);
    // Subscribing wants delivery: listen now if the store's ready() has not opened the connection
    // yet (servers call it at start, so there the connection is already open).
    if (this.#started === undefined && !this.#channel.closed()) void this.start();
  }

  activated(sub: Sub): void {
    this.#poll.drive(sub);
  }

  released(sub: Sub): void {
    this.#poll.released(sub);
  }

  async close(): Promise<void> {
    this.#poll.wakeAll();
    this.#stopWaiting?.();
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.close().catch(() => {});
    // An attempt to listen that is under way closes its connection when it sees the channel closed.
    await Promise.all([this.#started, this.#relistening]);
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
      this.#poll.driveAll();
      this.#keepListening();
    });
  }

  async #listen(): Promise<void> {
    if (!this.#database.listen) throw new Error('this driver cannot LISTEN');
    const listener = await this.#database.listen(NOTIFY_CHANNEL, (text) => this.#notified(text));
    if (this.#channel.closed()) {
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
    if (this.#channel.closed()) {
      await listener.close();
      return;
    }
    this.#listener = listener;
    this.#poll.wakeAll();
    void listener.lost.then((error) => this.#reconnect(listener, error));
  }

  #pollForGood(because: string): void {
    this.#listenUseless = true;
    this.#logger.warn(
      `channel: messages between instances are read from the table every ${this.#options.pollIntervalMs} ms (channel.poll_interval), not notified: ${because}. For notifications, give a URL without a pooler in database.direct_dsn (DATABASE_DIRECT_URL)`,
    );
    this.#poll.driveAll();
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
    if (!this.#channel.subscribed(note.t)) return;
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
      this.#channel.deliver({ topic: note.t, payload, position: { at: Number(note.a), id: Number(note.i) } });
    });
  }

  /** The listening connection broke: listen again, then read what was published meanwhile. */
  #reconnect(lost: Listener, error: Error): void {
    if (this.#channel.closed() || this.#listener !== lost) return;
    this.#listener = undefined;
    this.#logger.warn('channel: the listening connection was lost; reconnecting, and reading messages by polling meanwhile', {
      error: errorText(error),
    });
    this.#poll.driveAll();
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
    if (this.#channel.closed()) return;
    this.#logger.info('channel: listening again');
    // Subscriptions that know where they are get what they missed; the cursor drops duplicates.
    const after = new Map<string, Position>();
    for (const sub of this.#channel.subs) {
      if (!sub.cursor) continue;
      const known = after.get(sub.topic);
      if (!known || comparePositions(sub.cursor, known) < 0) after.set(sub.topic, sub.cursor);
    }
    this.#inbox = this.#inbox.then(async () => {
      try {
        for (const message of await this.#channel.read(after)) this.#channel.deliver(message);
      } catch (failure) {
        this.#logger.warn('channel: catching up after listening again failed', { error: errorText(failure) });
      }
    });
  }

  /** Waits `ms` unless the channel closes first; true when it is still open. */
  #backOff(ms: number): Promise<boolean> {
    if (this.#channel.closed()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#stopWaiting = undefined;
        resolve(!this.#channel.closed());
      }, ms);
      this.#stopWaiting = () => {
        clearTimeout(timer);
        this.#stopWaiting = undefined;
        resolve(false);
      };
    });
  }
}
