// A tool whose calls wait at a gate until the test opens it, for in-process platforms. Tests wait
// for the event "n calls have arrived" instead of sleeping, and let the calls go when they choose,
// so that what overlaps with what never depends on the machine's speed.
import { defineTool, defineToolset, text, type Toolset } from '../../src/core/define.js';
import { TOOLSET_FACTORIES } from '../../src/tools/index.js';

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

/** A promise and the function that resolves it. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export class Gate {
  /** Calls that reached the tool since the last reset. */
  arrivals = 0;
  /** How each call that left ended: 'passed' (gate opened) or 'aborted' (its request's signal fired). */
  readonly exits: string[] = [];
  #open = deferred();
  #waiting: { count: number; deferred: Deferred }[] = [];
  #exitWaiters: { count: number; deferred: Deferred }[] = [];

  /** Resolves once `count` calls have arrived since the last reset. */
  arrived(count: number): Promise<void> {
    if (this.arrivals >= count) return Promise.resolve();
    const waiter = { count, deferred: deferred() };
    this.#waiting.push(waiter);
    return waiter.deferred.promise;
  }

  /** Resolves once `count` calls have left the gate (passed or aborted) since the last reset. */
  left(count: number): Promise<void> {
    if (this.exits.length >= count) return Promise.resolve();
    const waiter = { count, deferred: deferred() };
    this.#exitWaiters.push(waiter);
    return waiter.deferred.promise;
  }

  /** Lets every waiting call through, and every later one until `reset`. */
  open(): void {
    this.#open.resolve(undefined);
  }

  reset(): void {
    this.arrivals = 0;
    this.exits.length = 0;
    this.#open = deferred();
    this.#waiting = [];
    this.#exitWaiters = [];
  }

  toolset(name: string): Toolset {
    return defineToolset({
      name,
      description: 'test',
      tools: [
        defineTool({
          name: 'wait_at_gate',
          description: 'Waits until the test opens the gate or the request is aborted.',
          input: {},
          handler: async (_args, ctx) => {
            const open = this.#open.promise;
            this.arrivals++;
            for (const waiter of this.#waiting.filter((w) => this.arrivals >= w.count)) waiter.deferred.resolve(undefined);
            const aborted = new Promise<'aborted'>((resolve) => {
              if (ctx.signal.aborted) resolve('aborted');
              ctx.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
            });
            const exit = await Promise.race([open.then(() => 'passed' as const), aborted]);
            this.exits.push(exit);
            for (const waiter of this.#exitWaiters.filter((w) => this.exits.length >= w.count)) waiter.deferred.resolve(undefined);
            return text(exit);
          },
        }),
      ],
    });
  }

  /** Makes the toolset available under `name` (BATON_TOOLSETS / toolsets); returns the remover. */
  register(name: string): () => void {
    TOOLSET_FACTORIES[name] = () => this.toolset(name);
    return () => {
      delete TOOLSET_FACTORIES[name];
    };
  }
}

/**
 * Holds the store's next `open` after the store answered, until `resume`: the test acts in the gap
 * between the session's open and what the request does next. `restore` undoes it (call it in
 * `finally`), and lets a held open go on.
 */
export function holdNextOpen(store: { open: (...args: never[]) => Promise<unknown> }) {
  const open = store.open;
  const opened = deferred();
  const resumed = deferred();
  store.open = async (...args) => {
    store.open = open;
    const result = await open.apply(store, args);
    opened.resolve();
    await resumed.promise;
    return result;
  };
  return {
    /** Resolves once the held open has its answer. */
    opened: opened.promise,
    resume: () => resumed.resolve(),
    restore: () => {
      store.open = open;
      resumed.resolve();
    },
  };
}
