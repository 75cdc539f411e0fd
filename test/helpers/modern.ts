// Helpers for the 2026-07-28 era: the SDK v2 client pinned to the revision, and raw requests
// carrying the per-request `_meta` envelope.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MCP_HEADERS } from './mcp.js';

export const MODERN = '2026-07-28';

export interface ModernClientOptions {
  /** Answers elicitation requests (the client declares the capability when given). */
  onElicit?: (message: string) => { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, string | number | boolean> };
  headers?: Record<string, string>;
  fetch?: (request: Request) => Promise<Response>;
}

/** The SDK v2 client, pinned to 2026-07-28 (no fallback to the 2025 handshake). */
export async function connectModernClient(url: string, options: ModernClientOptions = {}) {
  const client = new Client(
    { name: 'baton-modern-test', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: MODERN } }, capabilities: options.onElicit ? { elicitation: { form: {} } } : {} },
  );
  if (options.onElicit) {
    const onElicit = options.onElicit;
    client.setRequestHandler('elicitation/create', async (request) => onElicit(request.params.message));
  }
  const fetcher = options.fetch;
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(options.headers && { requestInit: { headers: options.headers } }),
    ...(fetcher && { fetch: (input: string | URL | Request, init?: RequestInit) => fetcher(new Request(input, init)) }),
  });
  await client.connect(transport);
  return { client, transport };
}

/** The `_meta` envelope of a 2026-07-28 request. */
export function envelope(capabilities: Record<string, unknown> = {}) {
  return {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-modern', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': capabilities,
  };
}

let nextId = 1;

/**
 * A raw 2026-07-28 request: the envelope in `_meta` and the standard headers (Mcp-Method,
 * Mcp-Name) the revision asks for.
 */
export function modernRequest(url: string, method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const { _meta, ...rest } = params as { _meta?: Record<string, unknown>; name?: unknown; uri?: unknown };
  const name = typeof rest.name === 'string' ? rest.name : typeof rest.uri === 'string' ? rest.uri : undefined;
  return new Request(url, {
    method: 'POST',
    headers: {
      ...MCP_HEADERS,
      'mcp-protocol-version': MODERN,
      'mcp-method': method,
      ...(name !== undefined && { 'mcp-name': name }),
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method,
      params: { ...rest, _meta: { ...envelope({ elicitation: { form: {} } }), ..._meta } },
    }),
  });
}
