// A session's key/value state during one request. Keys are flat so that two requests on two
// instances that change different keys never overwrite each other: the store merges a patch of
// changed keys instead of writing the whole object back.
import type { StatePatch } from '../store/types.js';

export class SessionState {
  readonly #values: Map<string, unknown>;
  readonly #set = new Map<string, unknown>();
  readonly #unset = new Set<string>();

  constructor(initial: Record<string, unknown> = {}) {
    this.#values = new Map(Object.entries(initial));
  }

  get<T = unknown>(key: string): T | undefined {
    return this.#values.get(key) as T | undefined;
  }

  has(key: string): boolean {
    return this.#values.has(key);
  }

  set(key: string, value: unknown): void {
    if (value === undefined) throw new TypeError(`session state "${key}": undefined is not storable; use delete()`);
    this.#values.set(key, value);
    this.#set.set(key, value);
    this.#unset.delete(key);
  }

  delete(key: string): void {
    if (!this.#values.has(key)) return;
    this.#values.delete(key);
    this.#set.delete(key);
    this.#unset.add(key);
  }

  /** Entries whose key starts with `prefix`, with the prefix removed. */
  entries<T = unknown>(prefix = ''): [string, T][] {
    const out: [string, T][] = [];
    for (const [key, value] of this.#values) {
      if (key.startsWith(prefix)) out.push([key.slice(prefix.length), value as T]);
    }
    return out;
  }

  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.#values);
  }

  get dirty(): boolean {
    return this.#set.size > 0 || this.#unset.size > 0;
  }

  /** The changes since construction or the last `takePatch()`, and forget them. */
  takePatch(): StatePatch | undefined {
    if (!this.dirty) return undefined;
    const patch: StatePatch = { set: Object.fromEntries(this.#set), unset: [...this.#unset] };
    this.#set.clear();
    this.#unset.clear();
    return patch;
  }
}
