// Server-sent events as MCP's Streamable HTTP sends them: each JSON-RPC message one `message`
// event, with an id where the stream can be resumed.

/** The headers of an event stream (the SDK's own: no caching, no proxy buffering). */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/** One message as an event; `id` makes it a point the client can resume after. */
export function sseEvent(message: unknown, id?: string): string {
  return id === undefined ? `event: message\ndata: ${JSON.stringify(message)}\n\n` : `event: message\nid: ${id}\ndata: ${JSON.stringify(message)}\n\n`;
}
