// The keys of session state that the 2025 protocol layer owns (toolsets use their own prefixes):
// the server (server.ts) writes them as the client sets its logging level and subscribes to
// resources; the session's event stream (streams.ts) reads the subscriptions.

export const STATE_KEYS = {
  loggingLevel: 'mcp.logging_level',
  subscriptionPrefix: 'mcp.sub:',
} as const;

/** The resource a state key records a subscription to; undefined for any other key. */
export function subscribedUri(key: string): string | undefined {
  return key.startsWith(STATE_KEYS.subscriptionPrefix) ? key.slice(STATE_KEYS.subscriptionPrefix.length) : undefined;
}
