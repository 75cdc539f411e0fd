// Era routing: one endpoint, two protocol eras. A request that carries the 2026-07-28 `_meta`
// envelope (or claims that revision in its headers) goes to the modern leg, which is stateless;
// everything else goes to the 2025 session layer, exactly as before. The decision is the SDK v2's
// own (`isLegacyRequest`), so it never disagrees with the modern leg about who owns a request.
// Host/Origin and authentication were checked before this point, for both eras alike.
import { LATEST_PROTOCOL_VERSION as LATEST_SESSION_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import {
  isJsonContentType,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isLegacyRequest,
  PROTOCOL_VERSION_META_KEY,
} from '@modelcontextprotocol/server';
import { readJsonBody, unreadableBody } from '../http/body.js';
import type { ModernLeg } from '../era-2026/handler.js';
import type { Caller } from '../auth/caller.js';
import type { WaitUntil } from '../core/task-runner.js';
import { isJsonRpcMessage, type SessionHandler } from '../era-2025/handler.js';
import { observeMcpRequest } from '../telemetry/mcp-request.js';

/** Serves one request of an authenticated caller; `waitUntil` is the runtime's, where it lends one (Workers). */
export type McpEndpoint = (request: Request, caller: Caller, waitUntil?: WaitUntil) => Promise<Response>;

export function routeByEra(options: { sessions: SessionHandler; modern: ModernLeg; maxBodyBytes: number }): McpEndpoint {
  const { sessions, modern, maxBodyBytes } = options;
  return async (request, caller, waitUntil) => {
    if (request.method !== 'POST') {
      // GET and DELETE have no body to read an envelope from: a 2026 client says so in its header.
      const legacy = !claimsModern(request) && (await isLegacyRequest(request));
      return legacy ? sessions(request, caller, undefined, waitUntil) : modern.handle(request, caller, undefined, waitUntil);
    }
    // A body that is not JSON cannot claim an era: the version header decides who answers it.
    if (!isJsonContentType(request.headers.get('content-type'))) {
      // The modern leg answers its own client's 415; the session layer everyone else's.
      return claimsModern(request) ? modern.handle(request, caller, undefined, waitUntil) : sessions(request, caller);
    }
    const body = await readJsonBody(request, maxBodyBytes);
    if (body.kind !== 'json' || !isJsonRpc(body.value)) {
      // No envelope to read: the version header alone says whose client this is. Without a claim
      // of a later revision, the session layer answers as it always has.
      if (!claimsModern(request)) return sessions(request, caller, body, waitUntil);
      if (body.kind === 'json') return modern.handle(request, caller, body.value, waitUntil);
      return unreadableBody(body, maxBodyBytes);
    }
    if (plainlyLegacy(request, body.value) || (await isLegacyRequest(request, body.value)))
      return observeMcpRequest(request, body.value, () => sessions(request, caller, body, waitUntil));
    return observeMcpRequest(request, body.value, () => modern.handle(request, caller, body.value, waitUntil));
  };
}

/** The version header names a revision after the 2025 ones (dated revisions sort as text). */
function claimsModern(request: Request): boolean {
  const version = request.headers.get('mcp-protocol-version');
  return version !== null && /^\d{4}-\d\d-\d\d$/.test(version) && version > LATEST_SESSION_VERSION;
}

/**
 * What `isLegacyRequest` answers, without its cost, for the bulk of 2025 traffic: a lone request
 * or notification by the SDK's own predicates, with no envelope claim in its `_meta`, and with no
 * version header or a 2025 one. The SDK classifies every such body as legacy (an `initialize`
 * included); anything else is left to it.
 */
export function plainlyLegacy(request: Request, body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const version = request.headers.get('mcp-protocol-version');
  if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return false;
  const params = (body as { params?: unknown }).params;
  const meta = typeof params === 'object' && params !== null ? (params as { _meta?: unknown })._meta : undefined;
  if (typeof meta === 'object' && meta !== null && PROTOCOL_VERSION_META_KEY in meta) return false;
  return isJSONRPCRequest(body) || isJSONRPCNotification(body);
}

/** A JSON-RPC 2.0 message, or a non-empty batch of them. */
function isJsonRpc(value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 && value.every(isJsonRpcMessage) : isJsonRpcMessage(value);
}
