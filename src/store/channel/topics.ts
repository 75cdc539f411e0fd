// The topics the 2025 session layer (and tasks, of both eras) use on the channel, and what their messages carry. One
// place, so that the publisher of a message and its receiver (often another instance, maybe
// running another version during a rolling deploy) agree on it.
import type { JSONRPCMessage, JSONRPCNotification, JSONRPCResponse } from '@modelcontextprotocol/sdk/types.js';
import type { TaskStatus } from '../tasks/types.js';
import type { Json } from './types.js';

/**
 * Messages for the work one instance runs: replies to its server-to-client requests, whose ids
 * name the instance (src/era-2025/exchange-router.ts). Subscribed while such a request waits.
 */
export const instanceTopic = (instanceId: string) => `instance:${instanceId}`;

export interface ReplyMessage {
  kind: 'reply';
  /** The session whose client replied (a reply only reaches a request of the same session). */
  session: string;
  message: JSONRPCResponse;
  /**
   * The forwarding instance's trace context (W3C fields: traceparent, tracestate), so that the
   * delivery links to it (src/telemetry/replies.ts). Absent without tracing.
   */
  trace?: Record<string, string>;
}

/**
 * Messages for whatever serves a session, wherever: cancels of its requests, its end, and
 * notifications meant for its stream. Subscribed while the session has work or a stream on an
 * instance.
 */
export const sessionTopic = (sessionId: string) => `session:${sessionId}`;

export type SessionMessage =
  /** The client cancelled one of its requests (`notifications/cancelled`, as the client sent it). */
  | { kind: 'cancel'; message: JSONRPCNotification }
  /** The session was deleted (DELETE, revoke): what it runs stops, its streams end. */
  | { kind: 'ended' }
  /** A notification for the session's standalone stream. */
  | { kind: 'notification'; message: JSONRPCNotification }
  /**
   * The session subscribed to or unsubscribed from resources, or created tasks (published with
   * the state change that records it): its streams pass on resource updates, and the status
   * changes of those tasks (`notifications/tasks/status`), by what they hear here.
   */
  | { kind: 'subscriptions'; subscribed: string[]; unsubscribed: string[]; tasks?: string[] };

export const SESSION_ENDED = { kind: 'ended' } as const satisfies SessionMessage;

/**
 * The rest of a request's event stream once it was closed early (the client comes back with
 * Last-Event-ID, on any instance, to get it). `key` is chosen by the instance serving the request.
 */
export const requestStreamTopic = (sessionId: string, key: string) => `stream:${sessionId}:${key}`;

export interface StreamMessage {
  /** Absent in the last entry of a request that ended without an answer (cancelled). */
  message?: JSONRPCMessage;
  /** The message that completes the request: the stream ends after it. */
  last: boolean;
  /** The request's call was handed over in a drain: whoever serves the resumed stream goes on with it. */
  handover?: HandoverNote;
}

/**
 * What the instance that serves a resumed request stream needs to go on with a call handed over
 * in a drain (src/era-2025/handover.ts). The call itself (tool, arguments, answers so far, whether
 * it may run again) is the task store's record `record`, claimed under a lease by the instance that
 * continues it; the note says how the call is answered and which input round it waits in.
 */
export interface HandoverNote {
  /** The id of the call's record in the task store. */
  record: string;
  /** The client's id of the request. */
  requestId: string | number;
  /** The request's params as the client sent them (tool name, arguments, `_meta`). */
  params: Json;
  /** The input round the call waits in; absent when the call runs again from its start. */
  round?: {
    /** Every request of the round, by the handler's key (those answered are in the record). */
    requests: Json;
    requestState?: Json;
    /** The request already sent whose reply is awaited: its id on the wire, and its key. */
    pending?: { id: string; key: string };
  };
  /** The store's clock when the request was opened: replies to `pending` are read from then on. */
  since: number;
}

/**
 * Changes of one task (both eras): its new status, published in the statement that made the
 * change, so that the instance running it hears a cancel and whatever waits for it (a poll held
 * open, a status notification) hears of progress, on any instance. What changed is read from
 * the store; the message only says that it did.
 */
export const taskTopic = (taskId: string) => `task:${taskId}`;

export interface TaskMessage {
  kind: 'task';
  status: TaskStatus;
}

/**
 * A message of this layer as a channel payload. JSON-RPC messages are JSON (validated on the way
 * in, or built by the SDK); only their types leave params open as `unknown`.
 */
export function asPayload(message: ReplyMessage | SessionMessage | StreamMessage | TaskMessage): Json {
  return message as unknown as Json;
}
