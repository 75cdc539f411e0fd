// Whether this instance wants traffic, as /readyz reports it. The platform owns it; the runtime
// entry that serves it says when start-up begins and ends and when a drain starts. A platform
// nobody starts (Workers, Vercel, tests) is ready as soon as it is built.

export type ReadinessState = 'starting' | 'ready' | 'draining';

/** What /readyz reads. */
export interface ReadinessView {
  readonly state: ReadinessState;
  /** Why it is not ready, when known (the session database's problem at start-up). */
  readonly reason: string | undefined;
}

export class Readiness implements ReadinessView {
  #state: ReadinessState = 'ready';
  #reason: string | undefined;

  get state(): ReadinessState {
    return this.#state;
  }

  get reason(): string | undefined {
    return this.#state === 'ready' ? undefined : this.#reason;
  }

  /** Start-up begins: not ready until markReady(). Ignored once draining. */
  markStarting(): void {
    if (this.#state === 'draining') return;
    this.#state = 'starting';
    this.#reason = undefined;
  }

  /** Start-up is over. Ignored once draining: a drain is never undone. */
  markReady(): void {
    if (this.#state === 'draining') return;
    this.#state = 'ready';
    this.#reason = undefined;
  }

  /** From now on for good: the load balancer is to send traffic elsewhere. */
  markDraining(): void {
    this.#state = 'draining';
  }

  /** Why start-up has not finished yet; said while starting. */
  setNotReadyReason(reason: string): void {
    if (this.#state === 'starting') this.#reason = reason;
  }
}
