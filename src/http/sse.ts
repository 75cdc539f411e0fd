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
  return id === undefined
    ? `event: message\ndata: ${JSON.stringify(message)}\n\n`
    : `event: message\nid: ${id}\ndata: ${JSON.stringify(message)}\n\n`;
}

const encoder = new TextEncoder();
/** Responses made by `wholeEventStream`, which wrappers can tell apart without reading their headers. */
const whole = new WeakSet<Response>();

/**
 * An event stream sent whole: `text` with its length, written by Node at once. What wraps the
 * answer (telemetry) asks `isWholeEventStream` rather than its headers (turning a response's
 * headers into a `Headers` costs more than the rest of the wrapping).
 */
export function wholeEventStream(text: string, status = 200): Response {
  const bytes = encoder.encode(text);
  const response = new Response(bytes, { status, headers: { ...SSE_HEADERS, 'content-length': String(bytes.byteLength) } });
  whole.add(response);
  return response;
}

export function isWholeEventStream(response: Response): boolean {
  return whole.has(response);
}
