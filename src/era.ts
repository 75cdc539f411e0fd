// Era routing: one endpoint, two protocol eras. A request that carries the 2026-07-28 `_meta`
// envelope (or claims that revision in its headers) goes to the modern leg, which is stateless;
// everything else goes to the 2025 session layer, exactly as before. The decision is the SDK v2's
// own (`isLegacyRequest`), so it never disagrees with the modern leg about who owns a request.
// Host/Origin and authentication were checked before this point, for both eras alike.
import { SUPPORTED_PROTOCOL_VERSIONS as SESSION_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { isJsonContentType, isLegacyRequest } from '@modelcontextprotocol/server';
import { readJsonBody } from './http/body.js';
import { JsonRpcCode, jsonRpcError } from './http/errors.js';
import type { ModernLeg } from './modern/handler.js';
import { type Caller, isJsonRpcMessage, type SessionHandler } from './sessions/handler.js';

export type McpEndpoint = (request: Request, caller: Caller) => Promise<Response>;


export function routeByEra(options: { sessions: SessionHandler; modern: ModernLeg; maxBodyBytes: number }): McpEndpoint {
  const { sessions, modern, maxBodyBytes } = options;
  return async (request, caller) => {
    if (request.method !== 'POST') {
      return (await isLegacyRequest(request)) ? sessions(request, caller) : modern.handle(request, caller, undefined);
    }
    // A body that is not JSON cannot claim an era; the session layer answers it (415, 413, 400)
    // with the same errors either era would get.
    if (!isJsonContentType(request.headers.get('content-type'))) return sessions(request, caller);
    const body = await readJsonBody(request, maxBodyBytes);
    if (body.kind !== 'json' || !isJsonRpc(body.value)) {
      // No envelope to read: the version header alone says whose client this is. Without one, or
      // with a 2025 revision, the session layer answers as it always has.
      const version = request.headers.get('mcp-protocol-version');
      if (version === null || SESSION_VERSIONS.includes(version)) return sessions(request, caller, body);
      if (body.kind === 'json') return modern.handle(request, caller, body.value);
      return body.kind === 'too-large'
        ? jsonRpcError(413, JsonRpcCode.ServerError, `Payload Too Large: the body exceeds ${maxBodyBytes} bytes`, { Connection: 'close' })
        : jsonRpcError(400, JsonRpcCode.ParseError, 'Parse error: the body is not valid JSON');
    }
    if (await isLegacyRequest(request, body.value)) return sessions(request, caller, body);
    return modern.handle(request, caller, body.value);
  };
}

/** A JSON-RPC 2.0 message, or a non-empty batch of them. */
function isJsonRpc(value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 && value.every(isJsonRpcMessage) : isJsonRpcMessage(value);
}
