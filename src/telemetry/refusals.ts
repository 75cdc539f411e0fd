// Requests to /mcp the server refused (credential, origin, session, size, availability), counted by
// HTTP status and by cause. The place that refuses names the cause on its answer; the app counts
// every refusal once, as it leaves, so that none is counted twice or missed (an unnamed one counts
// as `other`). A WeakMap, not a header: the cause is for the metric, not for the client.
import { instruments } from './instruments.js';

export type RefusalCause =
  /** 401: no valid credential where one is needed, or a credential that does not check out. */
  | 'credential'
  /** 403: the Origin header is not allowed. */
  | 'origin'
  /** 403: the session belongs to another credential. */
  | 'session_credential'
  /** 404: no such session (never was, expired, deleted or revoked). */
  | 'session_unknown'
  /** 413: the body is over server.max_body_bytes. */
  | 'body_too_large'
  /** 413: what a session would keep is over a sessions.* limit. */
  | 'session_limit'
  /** 503: the store (database) cannot be reached or did not answer in time. */
  | 'store_unavailable'
  /** 503: the server was shut down. */
  | 'shut_down';

const causes = new WeakMap<Response, RefusalCause>();

/** Names why `response` refuses its request; returns it. */
export function refusedBecause(cause: RefusalCause, response: Response): Response {
  causes.set(response, cause);
  return response;
}

/** Counts an /mcp answer that refused the request (401, 403, 404, 413, 429, 503), with its cause. */
export function countRefusal(response: Response): Response {
  const status = response.status;
  if (REFUSALS.has(status)) {
    instruments().refused.add(1, {
      'http.response.status_code': status,
      'error.type': String(status),
      'baton.refusal.cause': causes.get(response) ?? 'other',
    });
  }
  return response;
}

const REFUSALS = new Set([401, 403, 404, 413, 429, 503]);
