/** `sessions`: the 2025-era sessions' store, lifetimes and limits. */
import { z } from 'zod';
import { duration, integer, MAX_TIMER_MS } from '../values.js';

export const SESSION_STORES = ['memory', 'database'] as const;
export type SessionStore = (typeof SESSION_STORES)[number];

export const sessionsSection = z.strictObject({
  store: z.enum(SESSION_STORES).default('memory'),
  /** What a session is bound to: the raw credential, or the JWT's issuer and subject. */
  bind: z.enum(['token', 'principal']).default('token'),
  /** Defaults to server.streamable.session_timeout. */
  ttl: duration({ positive: true }).optional(),
  /** Defaults to server.streamable.session_timeout. */
  idle_timeout: duration({ positive: true }).optional(),
  cleanup_interval: duration({ positive: true, max: MAX_TIMER_MS }).default(60_000),
  /**
   * Largest `initialize` capabilities + clientInfo (as JSON, bytes) a session stores: they are the
   * client's to choose and are kept for the session's whole life.
   */
  max_initialize_bytes: integer(1, Number.MAX_SAFE_INTEGER, 'a positive whole number of bytes').default(64 * 1024),
  /**
   * Live sessions one credential may hold (all anonymous callers count as one); 0 = no limit. A
   * new session past it ends the credential's least recently active one.
   */
  max_per_credential: integer(0, 1_000_000_000, 'a whole number from 0 (no limit) to 1000000000').default(1_000),
  /** Tasks one credential may have working or waiting for input at once (all anonymous callers count as one); 0 = no limit. */
  max_open_tasks: integer(0, 1_000_000_000, 'a whole number from 0 (no limit) to 1000000000').default(100),
  /** Resources one session may be subscribed to at once; 0 = no limit. */
  max_subscriptions: integer(0, 1_000_000_000, 'a whole number from 0 (no limit) to 1000000000').default(100),
  /**
   * Largest session state (as JSON, bytes) a request may leave: every request of the session loads
   * it, and tools, middleware and subscriptions all add to it.
   */
  max_state_bytes: integer(1, Number.MAX_SAFE_INTEGER, 'a positive whole number of bytes').default(64 * 1024),
});
