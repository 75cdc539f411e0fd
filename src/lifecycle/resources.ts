// What a platform has opened, as closers registered by whatever opened it (the store with its
// pool and listening connection, the toolsets' datasources, timers). One owner closes them all:
// a build that fails part-way closes what it had opened so far, and close() closes every one
// even when some fail, then reports each failure.
import { errorText } from '../log.js';

type Closer = { name: string; close: () => Promise<void> | void };

export class Resources {
  #closers: Closer[] = [];
  #closing: Promise<void> | undefined;

  /** Registers what closes a resource just opened; closed in reverse order of registration. */
  add(name: string, close: () => Promise<void> | void): void {
    if (this.#closing) throw new Error(`cannot register "${name}": its platform is already closed`);
    this.#closers.push({ name, close });
  }

  /** Whether closeAll() was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Runs every closer, last registered first, each after the previous one settled. Rejects with
   * an AggregateError naming each closer that failed. Later calls return the same promise.
   */
  closeAll(): Promise<void> {
    this.#closing ??= (async () => {
      const failures: Error[] = [];
      for (const { name, close } of this.#closers.reverse()) {
        try {
          await close();
        } catch (error) {
          failures.push(new Error(`${name}: ${errorText(error)}`, { cause: error }));
        }
      }
      this.#closers = [];
      if (failures.length > 0) {
        throw new AggregateError(failures, `closing failed: ${failures.map((failure) => failure.message).join('; ')}`);
      }
    })();
    return this.#closing;
  }
}
