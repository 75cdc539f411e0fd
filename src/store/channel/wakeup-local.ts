// The local wake-up of the database channel (pglite): one process, so the instance that stores a
// message delivers it itself; the table keeps it for reading after a position.
import type { Message } from './types.js';
import type { Subscribers, WakeupStrategy } from './wakeup.js';

export class LocalWakeup implements WakeupStrategy {
  readonly #channel: Subscribers;

  constructor(channel: Subscribers) {
    this.#channel = channel;
  }

  published(message: Message): void {
    // A copy, as a message read back from the table would be; delivered after the publisher's step.
    const copy: Message = { ...message, payload: structuredClone(message.payload) };
    queueMicrotask(() => this.#channel.deliver(copy));
  }
}
