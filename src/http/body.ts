// Reads a request body up to a limit without buffering more than the limit: a client that sends
// gigabytes is cut off at the first chunk past it. What is left of a refused body is not read
// here: the runtime reads and drops it (`discardUnread`), so that the client sees the answer.
import { JsonRpcCode, jsonRpcError } from './errors.js';
import { refusedBecause } from '../telemetry/refusals.js';
export type BodyResult = { ok: true; text: string } | { ok: false; tooLarge: true };

export async function readBody(request: Request, limit: number): Promise<BodyResult> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) return { ok: false, tooLarge: true };
  // A declared length is what the HTTP layer will deliver, no more: read it in one go. On Node
  // this is @hono/node-server's fast path, which reads the socket without building a web stream.
  if (declared !== null && /^\d+$/.test(declared)) return { ok: true, text: await request.text() };
  if (!request.body) return { ok: true, text: '' };
  // No length (chunked): count while reading, and stop at the first chunk past the limit.
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      // Left to discardUnread, which takes the stream over.
      reader.releaseLock();
      return { ok: false, tooLarge: true };
    }
    chunks.push(value);
  }
  const bytes = chunks.length === 1 ? chunks[0]! : concat(chunks, size);
  return { ok: true, text: new TextDecoder().decode(bytes) };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** A POST body as the MCP endpoint reads it: JSON, not JSON, or over the limit. */
export type JsonBody = { kind: 'json'; value: unknown } | { kind: 'invalid' } | { kind: 'too-large' };

/** The answer to a body that could not be read as JSON (over the limit, or not JSON), for either era. */
export function unreadableBody(body: Exclude<JsonBody, { kind: 'json' }>, limit: number): Response {
  return body.kind === 'too-large'
    ? refusedBecause('body_too_large', jsonRpcError(413, JsonRpcCode.ServerError, `Payload Too Large: the body exceeds ${limit} bytes`))
    : jsonRpcError(400, JsonRpcCode.ParseError, 'Parse error: the body is not valid JSON');
}

export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  const body = await readBody(request, limit);
  if (!body.ok) return { kind: 'too-large' };
  try {
    return { kind: 'json', value: JSON.parse(body.text) };
  } catch {
    return { kind: 'invalid' };
  }
}

export interface DiscardLimits {
  /** Bytes read and dropped at most. */
  bytes: number;
  /** For this long at most, ms. */
  ms: number;
}

/**
 * Generous enough that a client that sends a whole oversized body at loopback or LAN speed is
 * read to its end (a 50 MiB post takes well under a second); small enough that one that never
 * stops cannot hold a connection for long.
 */
export const DISCARD_LIMITS: DiscardLimits = { bytes: 64 * 1024 * 1024, ms: 10_000 };

/**
 * Reads what the app left of a request's body (a refusal answered before reading it: 413, 415,
 * 401 ...) and drops it, up to a bound in bytes and in time. A client is usually still sending
 * when such an answer leaves; a server that closes the connection with unread data in it makes
 * the client's system reset it, and the client then reports a reset (EPIPE, ECONNRESET) instead of
 * the answer. Reading the rest lets the answer through. Past either bound the body is cancelled,
 * which on Node closes the connection. Resolves to true when the body was read to its end.
 */
export async function discardUnread(request: Request, limits: DiscardLimits = DISCARD_LIMITS): Promise<boolean> {
  const body = request.body;
  if (!body || body.locked) return true;
  const reader = body.getReader();
  let dropped = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void reader.cancel().catch(() => {});
  }, limits.ms);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return !timedOut;
      dropped += value.byteLength;
      if (dropped > limits.bytes) {
        await reader.cancel();
        return false;
      }
    }
  } catch {
    // The connection went away while we read: there is nothing left to read or to answer.
    return false;
  } finally {
    clearTimeout(timer);
  }
}
