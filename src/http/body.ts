// Reads a request body up to a limit without buffering more than the limit: a client that sends
// gigabytes is cut off at the first chunk past it.
export type BodyResult = { ok: true; text: string } | { ok: false; tooLarge: true };

export async function readBody(request: Request, limit: number): Promise<BodyResult> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    await request.body?.cancel().catch(() => {});
    return { ok: false, tooLarge: true };
  }
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
      await reader.cancel().catch(() => {});
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

export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  const body = await readBody(request, limit);
  if (!body.ok) return { kind: 'too-large' };
  try {
    return { kind: 'json', value: JSON.parse(body.text) };
  } catch {
    return { kind: 'invalid' };
  }
}
