/** `channel`: messages between instances (replies, cancels, stream events) carried by the store. */
import { z } from 'zod';
import { duration, MAX_TIMER_MS } from '../values.js';

export const channelSection = z.strictObject({
  /** neon-http: how often an instance that waits for a message from another instance reads the table. */
  poll_interval: duration({ positive: true, max: MAX_TIMER_MS }).default(500),
  /** How long messages between instances (stream events among them) are kept: the resumption window. */
  retention: duration({ positive: true }).default(5 * 60_000),
  /**
   * Longest a GET event stream stays open before the server closes it (the client reconnects
   * with Last-Event-ID); 0 = no limit. Default: 60s on neon-http, no limit otherwise.
   */
  stream_timeout: duration({ positive: false, max: MAX_TIMER_MS }).optional(),
  /** The reconnection delay event streams advise clients (SSE `retry`). */
  retry: duration({ positive: true, max: MAX_TIMER_MS }).default(1_000),
});
