// What the owner of an HTTP request of a 2025 session and the session's exchange router
// (./exchange-router.ts) say to each other: the options of an exchange, how it came to its end,
// where its messages go once its stream was closed early. Types and message shapes only; the
// state of exchanges belongs to the router alone.
import type { JSONRPCMessage, JSONRPCRequest, JSONRPCResponse, RequestId } from '@modelcontextprotocol/sdk/types.js';

// Structural checks: every message here was validated on the way in (client messages by the
// POST's transport, ./post-transport.ts) or built by the SDK server itself, so re-validating with zod would only cost.
export function isResponse(message: JSONRPCMessage): message is JSONRPCResponse {
  return 'result' in message || 'error' in message;
}

export function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return 'method' in message && 'id' in message;
}

export interface ExchangeOptions {
  /** Ids of the client requests this HTTP request carries. */
  requestIds: RequestId[];
  /**
   * Hand the answer that completes the exchange to the owner (`outcome`) instead of sending it;
   * the owner sends it with `finish`. Without it, every answer is sent as it comes.
   */
  holdLastAnswer: boolean;
  /**
   * The store's clock when the request's session was opened (OpenResult.at): messages about this
   * exchange published on the channel from then on reach it.
   */
  since?: number;
}

/** How an exchange whose last answer is held came to its end. */
export type Outcome =
  /** The server answered the last open request; the answer is not sent yet. */
  | { kind: 'answered'; message: JSONRPCResponse }
  /** The client cancelled the last open request: there is no answer to send. */
  | { kind: 'cancelled' }
  /** The exchange was ended from outside (session deleted, HTTP transport closed). */
  | { kind: 'ended' };

/** Where messages of an exchange go once its event stream was closed early. */
export interface Sink {
  /** `last` marks the message that completes the exchange. */
  write(message: JSONRPCMessage, last: boolean): Promise<void>;
  /** The exchange ended without a last message (cancelled, or ended from outside). */
  end(): Promise<void>;
}
