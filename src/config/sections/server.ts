/** `server`: the HTTP side of the Node server and of every runtime's `/mcp` endpoint. */
import { duration, integer, MAX_TIMER_MS, section, stringList } from '../values.js';

function checkHost(item: string): string | undefined {
  if (/[\s/]/.test(item) || item.includes('://')) {
    return 'expected a host such as "api.example.com" or "localhost:8080" (no scheme or path)';
  }
  return undefined;
}

function checkOrigin(item: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s?#]+$/.test(item)) {
    return 'expected an origin such as "https://app.example.com" (scheme and host, no path or trailing slash)';
  }
  return undefined;
}

export const serverSection = section({
  // 0: any free port, which the "listening" log line names (tests start many servers at once).
  port: integer(0, 65535, 'an integer between 0 and 65535 (0: any free port)').default(8080),
  max_body_bytes: integer(1, Number.MAX_SAFE_INTEGER, 'a positive whole number of bytes').default(4 * 1024 * 1024),
  allowed_hosts: stringList(checkHost).default([]),
  allowed_origins: stringList(checkOrigin).default([]),
  streamable: section({
    session_timeout: duration({ positive: true }).default(30 * 60_000),
  }).prefault({}),
  shutdown: section({
    grace_period: duration({ positive: false, max: MAX_TIMER_MS }).default(25_000),
    pre_shutdown_delay: duration({ positive: false, max: MAX_TIMER_MS }).default(2_000),
  }).prefault({}),
});
