// Waiting in tests: for a state (a status, a log line, a count), not for a length of time, with a
// generous bound (the machine may be loaded), and an error that says what never came.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** What is awaited, as the error completes it: "waited 30000 ms for <what>". */
  what: string;
  /** Default 30 s. */
  timeoutMs?: number;
  /** How often `check` runs; default 50 ms. */
  intervalMs?: number;
  /** Appended to the error (a server's logs, what was seen instead), read when the wait ran out. */
  detail?: () => string;
}

/** Runs `check` until it gives a truthy value, and resolves to that value. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, undefined | null | false>;
    if (Date.now() > deadline) {
      const detail = options.detail?.();
      throw new Error(`waited ${timeoutMs} ms for ${options.what}${detail ? `:\n${detail}` : ''}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}
