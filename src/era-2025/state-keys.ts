// The keys of session state that the 2025 protocol layer owns (toolsets use their own prefixes):
// the server (server.ts) writes them as the client sets its logging level and subscribes to
// resources, and tasks.ts as the session creates tasks; the session's event stream (streams.ts)
// reads the subscriptions and the tasks whose status it announces.

export const STATE_KEYS = {
  loggingLevel: 'mcp.logging_level',
  subscriptionPrefix: 'mcp.sub:',
  /** A task of the session whose status changes its stream announces; the value is when the task expires (ms). */
  taskPrefix: 'mcp.task:',
} as const;

/** The resource a state key records a subscription to; undefined for any other key. */
export function subscribedUri(key: string): string | undefined {
  return key.startsWith(STATE_KEYS.subscriptionPrefix) ? key.slice(STATE_KEYS.subscriptionPrefix.length) : undefined;
}

/** The task a state key names (one whose status the session's stream announces); undefined for any other key. */
export function watchedTask(key: string): string | undefined {
  return key.startsWith(STATE_KEYS.taskPrefix) ? key.slice(STATE_KEYS.taskPrefix.length) : undefined;
}
