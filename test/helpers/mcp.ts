// Small helpers around the SDK client and raw HTTP, shared by the tests.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  type ClientCapabilities,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';

export const INIT_BODY = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-test', version: '1.0.0' } },
};

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: JSON.stringify(body) });
}

/**
 * An SDK client that answers elicitation (accepting, with a username naming the question) and
 * sampling (a text naming the prompt), not connected yet.
 */
export function answeringClient(name: string): Client {
  const client = new Client({ name, version: '1' }, { capabilities: { elicitation: {}, sampling: {} } });
  client.setRequestHandler(ElicitRequestSchema, (request) => ({
    action: 'accept',
    content: { username: `user for ${request.params.message}`, email: 'ada@example.com' },
  }));
  client.setRequestHandler(CreateMessageRequestSchema, (request) => ({
    model: 'test-model',
    role: 'assistant',
    content: { type: 'text', text: `sampled: ${(request.params.messages[0]!.content as { text: string }).text}` },
  }));
  return client;
}

export interface ConnectOptions {
  capabilities?: ClientCapabilities;
  onElicit?: (message: string) => ElicitResult;
  headers?: Record<string, string>;
}

export async function connectClient(url: string, options: ConnectOptions = {}) {
  const client = new Client({ name: 'baton-test', version: '1.0.0' }, { capabilities: options.capabilities ?? {} });
  if (options.onElicit) {
    const onElicit = options.onElicit;
    client.setRequestHandler(ElicitRequestSchema, (request) => onElicit(request.params.message));
  }
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(options.headers && { requestInit: { headers: options.headers } }),
  });
  await client.connect(transport);
  return { client, transport };
}

/** The JSON-RPC messages of a response, whether it came as JSON or as an event stream. */
export async function readMessages(response: Response): Promise<any[]> {
  const text = await response.text();
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    return text
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trim())
      .filter((data) => data.length > 0)
      .map((data) => JSON.parse(data));
  }
  if (!text) return [];
  const body = JSON.parse(text);
  return Array.isArray(body) ? body : [body];
}

/** A minimal raw client for one session over any fetch function (in-process apps included). */
export class RawSession {
  id = '';
  #nextId = 1;
  constructor(
    private readonly fetcher: (request: Request) => Promise<Response> | Response,
    private readonly url = 'http://127.0.0.1/mcp',
    private readonly headers: Record<string, string> = {},
  ) {}

  async send(method: string, body: unknown, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...MCP_HEADERS, ...this.headers, ...extra };
    if (this.id) {
      headers['mcp-session-id'] = this.id;
      headers['mcp-protocol-version'] = '2025-11-25';
    }
    return this.fetcher(new Request(this.url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }));
  }

  async initialize(capabilities: Record<string, unknown> = {}): Promise<Response> {
    const response = await this.send('POST', { ...INIT_BODY, params: { ...INIT_BODY.params, capabilities } });
    this.id = response.headers.get('mcp-session-id') ?? '';
    return response;
  }

  async request(method: string, params: Record<string, unknown> = {}): Promise<{ status: number; messages: any[] }> {
    const response = await this.send('POST', { jsonrpc: '2.0', id: this.#nextId++, method, params });
    return { status: response.status, messages: await readMessages(response) };
  }

  async notify(method: string, params: Record<string, unknown> = {}): Promise<Response> {
    return this.send('POST', { jsonrpc: '2.0', method, params });
  }

  async callTool(name: string, args: Record<string, unknown> = {}) {
    const { status, messages } = await this.request('tools/call', { name, arguments: args });
    const final = messages.find((m) => 'result' in m || 'error' in m);
    return { status, result: final?.result, error: final?.error, messages };
  }

  async delete(): Promise<Response> {
    return this.send('DELETE', undefined);
  }
}
