// Every error the HTTP edge answers is a JSON-RPC error body with a fitting status, so that
// clients that only read bodies still learn what went wrong.
export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined server errors (transport level). */
  ServerError: -32000,
  SessionNotFound: -32001,
} as const;

export function jsonRpcError(status: number, code: number, message: string, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

/** Raised by stores when the database cannot be reached or did not answer in time. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Raised by stores when a configured limit refuses a new session (too large an `initialize`, too
 * many sessions for one credential); the session layer answers with its status and message.
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

export function unavailable(message = 'Session store unavailable; retry shortly'): Response {
  return jsonRpcError(503, JsonRpcCode.ServerError, message, { 'Retry-After': '1' });
}
