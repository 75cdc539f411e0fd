// The errors a store raises, for the layers above it to answer (503, 413, a JSON-RPC error).

/**
 * Raised by stores when the database cannot serve: unreachable, too slow, or not set up for it (no
 * such database or role, a refused login). `message` is for logs; `problem` and `remedy` are safe
 * to show clients (no address, user name or credential).
 */
export class StoreUnavailableError extends Error {
  readonly problem: string | undefined;
  readonly remedy: string | undefined;
  /** Waiting may be enough; otherwise the operator must change something. */
  readonly passing: boolean;

  constructor(message: string, options?: { cause?: unknown; problem?: string; remedy?: string; passing?: boolean }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
    this.problem = options?.problem;
    this.remedy = options?.remedy;
    this.passing = options?.passing ?? true;
  }

  /** What a client (and /readyz) is told. */
  get publicMessage(): string {
    if (this.problem === undefined) return 'Session store unavailable; retry shortly';
    if (this.passing || this.remedy === undefined) return `Session store unavailable: ${this.problem}; retry shortly`;
    return `Session store unavailable: ${this.problem}. The server's operator must act: ${this.remedy}`;
  }
}

/**
 * Raised by stores when a configured limit refuses what a session would keep: too large an
 * `initialize` (answered with its status and message), or too large a state after a request
 * (answered as that request's JSON-RPC error, with its code and message).
 */
export class SessionRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'SessionRefusedError';
  }
}

/**
 * Raised by stores when a limit refuses a new task (too many open tasks for its credential);
 * nothing was stored. `code` is the JSON-RPC error the call is answered with.
 */
export class TaskRefusedError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'TaskRefusedError';
  }
}
