// Counts the HTTP exchanges in progress, so that a shutdown can wait for them. An exchange lasts
// until its response body is completely sent (a streamed SSE response counts until its stream
// ends), not until the handler returns. Runtime-neutral: the Node entry feeds it from the HTTP
// server's request events.

export class InFlight {
  #count = 0;
  #waiters = new Set<() => void>();

  get count(): number {
    return this.#count;
  }

  /** Marks one exchange as started; call the returned function when it ends (extra calls are ignored). */
  enter(): () => void {
    this.#count++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#count--;
      if (this.#count === 0) for (const wake of [...this.#waiters]) wake();
    };
  }

  /** Resolves true once nothing is in flight, or false when `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(result);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#waiters.add(wake);
    });
  }
}
