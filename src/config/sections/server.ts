/** `server`: the HTTP side of the Node server and of every runtime's `/mcp` endpoint. */
import { z } from 'zod';
import { expected } from '../messages.js';
import { duration, integer, listItem, MAX_TIMER_MS, stringList } from '../values.js';

const host = listItem().refine((item) => !/[\s/]/.test(item) && !item.includes('://'), {
  error: expected('a host such as "api.example.com" or "localhost:8080" (no scheme or path)'),
});

const origin = listItem().regex(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s?#]+$/, {
  error: expected('an origin such as "https://app.example.com" (scheme and host, no path or trailing slash)'),
});

export const serverSection = z.strictObject({
  // 0: any free port, which the "listening" log line names (tests start many servers at once).
  port: integer(0, 65535, 'an integer between 0 and 65535 (0: any free port)').default(8080),
  max_body_bytes: integer(1, Number.MAX_SAFE_INTEGER, 'a positive whole number of bytes').default(4 * 1024 * 1024),
  allowed_hosts: stringList(host).default([]),
  allowed_origins: stringList(origin).default([]),
  streamable: z
    .strictObject({
      session_timeout: duration({ positive: true }).default(30 * 60_000),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      grace_period: duration({ positive: false, max: MAX_TIMER_MS }).default(25_000),
      pre_shutdown_delay: duration({ positive: false, max: MAX_TIMER_MS }).default(2_000),
    })
    .prefault({}),
});
