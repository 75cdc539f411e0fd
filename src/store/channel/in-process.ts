// The channel of the memory store: one process, so messages are delivered and kept in process.
// Same contract as the database channel (src/store/channel/types.ts), so switching stores changes
// durability and reach, not behaviour.
import {
  comparePositions,
  type Channel,
  type Json,
  type Message,
  type Position,
  type SubscribeOptions,
  type Subscription,
} from './types.js';

interface Sub {
  topic: string;
  listener: (message: Message) => void;
  cursor: Position | undefined;
}

export class InProcessChannel implements Channel {
  readonly delivery = 'in-process' as const;
  /** Messages within the retention, in publishing order. */
  #kept: Message[] = [];
  readonly #subs = new Set<Sub>();
  #nextId = 1;
  #lastAt = 0;

  constructor(
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The clock positions are taken from, in microseconds (what `OpenResult.at` gives for the memory store). */
  clock(): number {
    return this.now() * 1000;
  }

  async publish(topic: string, payload: Json): Promise<Position> {
    // Strictly increasing, so that a position alone orders the messages of a topic.
    const at = Math.max(this.#lastAt + 1, this.clock());
    this.#lastAt = at;
    // A copy, as a message read back from a database would be: no listener shares the sender's objects.
    const message: Message = { topic, payload: structuredClone(payload), position: { at, id: this.#nextId++ } };
    this.#kept.push(message);
    this.sweep();
    // Delivered after the publisher's own step, never inside it.
    queueMicrotask(() => {
      for (const sub of this.#subs) this.#deliver(sub, message);
    });
    return message.position;
  }

  subscribe(topic: string, listener: (message: Message) => void, options: SubscribeOptions = {}): Subscription {
    const sub: Sub = { topic, listener, cursor: options.since === undefined ? undefined : { at: options.since, id: 0 } };
    this.#subs.add(sub);
    return { unsubscribe: () => void this.#subs.delete(sub), setPassive: () => {} };
  }

  async read(after: ReadonlyMap<string, Position>): Promise<Message[]> {
    this.sweep();
    return this.#kept.filter((m) => {
      const from = after.get(m.topic);
      return from !== undefined && comparePositions(m.position, from) > 0;
    });
  }

  /** Forgets messages older than the retention; returns how many. */
  sweep(): number {
    const cutoff = this.clock() - this.retentionMs * 1000;
    const before = this.#kept.length;
    let first = 0;
    while (first < this.#kept.length && this.#kept[first]!.position.at < cutoff) first++;
    if (first > 0) this.#kept = this.#kept.slice(first);
    return before - this.#kept.length;
  }

  async close(): Promise<void> {
    this.#subs.clear();
  }

  #deliver(sub: Sub, message: Message): void {
    if (sub.topic !== message.topic || !this.#subs.has(sub)) return;
    if (sub.cursor && comparePositions(message.position, sub.cursor) <= 0) return;
    sub.cursor = message.position;
    sub.listener(message);
  }
}
