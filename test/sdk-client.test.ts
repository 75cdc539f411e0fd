// The MCP SDK's own client against the real Node server: the session lifecycle of the HTTP table
// in the README, and capability-dependent features served by servers rebuilt per request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallToolResultSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { connectClient, postJson, INIT_BODY } from './helpers/mcp.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ BATON_TOOLSETS: 'conformance' });
});

afterAll(async () => {
  expect(await server.stop()).toBe(0);
});

describe('session lifecycle with the SDK client', () => {
  it('initializes, lists and calls tools, is elicited in a later request, and deletes', async () => {
    const elicitations: string[] = [];
    const { client, transport } = await connectClient(server.url, {
      capabilities: { elicitation: {} },
      onElicit: (message) => {
        elicitations.push(message);
        return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
      },
    });
    const sessionId = transport.sessionId;
    expect(sessionId).toMatch(/^[\x21-\x7e]{22,}$/);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('test_simple_text');

    const simple = await client.callTool({ name: 'test_simple_text', arguments: {} });
    expect(simple.content).toEqual([{ type: 'text', text: 'This is a simple text response for testing.' }]);

    // The server answering this request is built for it; only the stored session tells it that
    // this client declared elicitation at initialize.
    const elicited = await client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } });
    expect(elicitations).toEqual(['Who are you?']);
    expect(elicited.isError).toBeFalsy();
    expect(JSON.stringify(elicited.content)).toContain('ada@example.com');

    await transport.terminateSession();
    const after = await postJson(server.url, { jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }, { 'mcp-session-id': sessionId! });
    expect(after.status).toBe(404);
    expect((await after.json()).error.code).toBe(-32001);
    await client.close();
  });

  it('refuses elicitation to a client that did not declare it', async () => {
    const { client } = await connectClient(server.url, { capabilities: {} });
    const result = await client.callTool({ name: 'test_elicitation', arguments: { message: 'x' } });
    expect(result.isError).toBe(true);
    await client.close();
  });

  it('keeps the logging level set by logging/setLevel for later requests', async () => {
    const { client } = await connectClient(server.url, { capabilities: {} });
    const received: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void received.push(n.params.level));
    await client.setLoggingLevel('error');
    await client.callTool({ name: 'test_tool_with_logging', arguments: {} }, CallToolResultSchema);
    expect(received).toEqual([]);
    await client.setLoggingLevel('debug');
    await client.callTool({ name: 'test_tool_with_logging', arguments: {} }, CallToolResultSchema);
    expect(received.length).toBeGreaterThan(0);
    await client.close();
  });

  it('answers 400 to a request without a session id, 404 to an unknown id', async () => {
    const noId = await postJson(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    expect(noId.status).toBe(400);
    expect((await noId.json()).jsonrpc).toBe('2.0');
    const unknown = await postJson(
      server.url,
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      { 'mcp-session-id': 'no-such-session' },
    );
    expect(unknown.status).toBe(404);
  });

  it('puts a fresh session id on every initialize response', async () => {
    const a = await postJson(server.url, INIT_BODY);
    const b = await postJson(server.url, INIT_BODY);
    expect(a.status).toBe(200);
    const idA = a.headers.get('mcp-session-id');
    const idB = b.headers.get('mcp-session-id');
    expect(idA).toBeTruthy();
    expect(idA).not.toBe(idB);
  });

  it('stops start-up with exit code 2 and the key path on a problem found while building', async () => {
    await expect(startServer({ BATON_TOOLSETS: 'conformance,nonsense' })).rejects.toThrow(
      /exited with 2 before listening:[\s\S]*BATON_TOOLSETS \(environment\): unknown toolset "nonsense"/,
    );
  });

  it('serves health and readiness', async () => {
    const base = server.url.replace(/\/mcp$/, '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});
