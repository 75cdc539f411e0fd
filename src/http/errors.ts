// Every error the HTTP edge answers is a JSON-RPC error body with a fitting status, so that
// clients that only read bodies still learn what went wrong.
import { refusedBecause } from '../telemetry/refusals.js';

/** The JSON-RPC error codes the platform answers with, at the HTTP edge and from MCP methods alike. */
export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined server errors (transport level). */
  ServerError: -32000,
  SessionNotFound: -32001,
  /** Resource not found in the 2025 era; 2026-07-28 answers InvalidParams with `data.uri` (SEP-2164). */
  ResourceNotFound: -32002,
} as const;

/**
 * The JSON-RPC error of a call that a drain cut off (both eras): its instance stopped before the
 * call finished, and the call could not go on elsewhere. Calling again is safe to try.
 */
export const CUT_OFF_BY_RESTART = {
  code: JsonRpcCode.ServerError,
  message: 'A server restart cut this call off before it finished, and it could not go on elsewhere; call again.',
} as const;

export function jsonRpcError(status: number, code: number, message: string, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export function unavailable(message = 'Session store unavailable; retry shortly'): Response {
  return refusedBecause('store_unavailable', jsonRpcError(503, JsonRpcCode.ServerError, message, { 'Retry-After': '1' }));
}
