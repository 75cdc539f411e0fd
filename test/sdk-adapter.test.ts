// A stock SDK server's registration function, unchanged, served through `fromSdkServer` and the
// public API: the official conformance scenarios it implements pass in both protocol eras (the
// server is a process started the way a user's would be), and the SDK's client sees its schemas,
// its validation, its structured output, cancellation and clear errors for what cannot cross.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { runScenarios } from '../scripts/conformance.js';
import { ConfigError, defineToolset, fromSdkServer, text } from '../src/api/index.js';
import { createBaton } from '../src/api/node.js';
import type { Baton } from '../src/api/baton.js';
import { registerStockServer, STOCK_SCENARIOS, STOCK_SESSION_SCENARIOS } from './fixtures/stock-sdk-server.js';
import { RawSession } from './helpers/mcp.js';
import { type RunningServer, ROOT, startServer } from './helpers/server.js';
import { SseReader } from './helpers/sse.js';

describe('the stock registration in a server process, through the official conformance suite', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({}, { command: [process.execPath, '--import', 'tsx', 'test/fixtures/stock-main.ts'], cwd: ROOT });
  });
  afterAll(async () => {
    expect(await server?.stop()).toBe(0);
  });

  it('passes every scenario it implements as a 2026-07-28 server (0.2 alpha)', async () => {
    const runs = await runScenarios(server.url, STOCK_SCENARIOS, '2026-07-28');
    console.log(`fromSdkServer, 2026-07-28: ${runs.filter((r) => r.failures.length === 0).length}/${runs.length} scenarios`);
    expect(runs.flatMap((run) => run.failures)).toEqual([]);
    expect(runs.every((run) => run.passed > 0 && run.warnings === 0)).toBe(true);
  }, 180_000);

  it('passes every scenario it implements with 2025 sessions (0.1.16)', async () => {
    const runs = await runScenarios(server.url, [...STOCK_SCENARIOS, ...STOCK_SESSION_SCENARIOS]);
    console.log(`fromSdkServer, 2025 sessions: ${runs.filter((r) => r.failures.length === 0).length}/${runs.length} scenarios`);
    expect(runs.flatMap((run) => run.failures)).toEqual([]);
    expect(runs.every((run) => run.passed > 0 && run.warnings === 0)).toBe(true);
  }, 180_000);
});

/** An SDK client whose requests the Baton answers in this process (no socket). */
async function connect(baton: Baton, capabilities: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'adapter-test', version: '1' }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL('http://localhost/mcp'), {
    fetch: (url, init) => baton.fetch(new Request(url, init)),
    requestInit: { headers },
  });
  await client.connect(transport);
  return client;
}

describe('fromSdkServer in process', () => {
  const cancelled: string[] = [];
  let waiting = false;
  let sdkServer: McpServer | undefined;
  const register = (server: McpServer) => {
    sdkServer = server;
    registerStockServer(server);
    server.registerTool('ask', { description: 'Asks the client in the middle of the call.' }, async () => {
      const answer = await server.server.elicitInput({ message: 'name?', requestedSchema: { type: 'object', properties: {} } });
      return { content: [{ type: 'text', text: answer.action }] };
    });
    server.registerTool('whoami', { description: 'Says who called.', _meta: { 'example/template': 'ui://whoami' } }, async (extra) => ({
      content: [{ type: 'text', text: JSON.stringify(extra.authInfo ?? null) }],
    }));
    server.registerTool('wait', { description: 'Waits until cancelled.' }, async (extra) => {
      await new Promise<void>((resolve) => {
        waiting = true;
        extra.signal.addEventListener('abort', () => {
          cancelled.push(String(extra.signal.reason ?? 'aborted'));
          resolve();
        });
      });
      return { content: [{ type: 'text', text: 'done' }] };
    });
  };
  let baton: Baton;
  beforeAll(async () => {
    baton = await createBaton({
      name: 'adapted',
      version: '2.3.4',
      config: { sessions: { store: 'memory' } },
      logger: 'error',
      toolsets: [fromSdkServer('stock', register)],
    });
  });
  afterAll(async () => {
    await baton?.close();
  });

  it("names the server as the options say, and lists the SDK server's schemas as it made them", async () => {
    const client = await connect(baton);
    expect(client.getServerVersion()).toEqual({ name: 'adapted', version: '2.3.4' });
    const { tools } = await client.listTools();
    const add = tools.find((tool) => tool.name === 'add')!;
    expect(add.inputSchema).toMatchObject({
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    });
    expect(add.outputSchema).toMatchObject({ type: 'object', properties: { sum: { type: 'number' } } });
    await client.close();
  });

  it("lists a tool's _meta as the SDK server made it", async () => {
    const client = await connect(baton);
    const { tools } = await client.listTools();
    expect(tools.find((tool) => tool.name === 'whoami')?._meta).toEqual({ 'example/template': 'ui://whoami' });
    await client.close();
  });

  it('tells the handler who called (extra.authInfo), without the credential; nothing for an anonymous caller', async () => {
    const anonymous = await connect(baton);
    expect((await anonymous.callTool({ name: 'whoami', arguments: {} })).content).toEqual([{ type: 'text', text: 'null' }]);
    await anonymous.close();

    const guarded = await createBaton({
      config: { sessions: { store: 'memory' }, auth: { required: true, api_keys: ['key-of-ada-0123456789'] } },
      logger: 'error',
      toolsets: [fromSdkServer('stock', register)],
    });
    try {
      const client = await connect(guarded, {}, { authorization: 'Bearer key-of-ada-0123456789' });
      const [block] = (await client.callTool({ name: 'whoami', arguments: {} })).content as { text: string }[];
      const info = JSON.parse(block!.text);
      expect(info).toMatchObject({ token: '', scopes: [], extra: { method: 'api_key' } });
      expect(info.clientId).toEqual(expect.any(String));
      expect(block!.text).not.toContain('key-of-ada');
      await client.close();
    } finally {
      await guarded.close();
    }
  });

  it('passes arguments as sent, and the SDK server validates them and checks its output', async () => {
    const client = await connect(baton);
    const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    expect(sum.structuredContent).toEqual({ sum: 5 });
    const wrong = await client.callTool({ name: 'add', arguments: { a: 'two', b: 3 } });
    expect(wrong.isError).toBe(true);
    expect(JSON.stringify(wrong.content)).toMatch(/Input validation error|invalid/i);
    await client.close();
  });

  it('tells a handler that asks the client in the middle of a call that the client cannot be asked', async () => {
    const client = await connect(baton, { elicitation: {} });
    let asked = false;
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked = true;
      return { action: 'accept', content: {} };
    });
    const result = await client.callTool({ name: 'ask', arguments: {} });
    expect(asked).toBe(false);
    expect(result.isError).toBe(true);
    // The SDK server was told of no client capability: it refuses with its own words.
    expect(JSON.stringify(result.content)).toContain('Client does not support form elicitation');
    await client.close();
  });

  it('passes a cancellation on to the SDK handler', async () => {
    const client = await connect(baton);
    const controller = new AbortController();
    const call = client.callTool({ name: 'wait', arguments: {} }, undefined, { signal: controller.signal });
    await expect.poll(() => waiting, { timeout: 30_000 }).toBe(true);
    // The handler is waiting: cancel, and the handler's own signal fires.
    controller.abort('stop');
    await expect(call).rejects.toThrow();
    await expect.poll(() => cancelled.length, { timeout: 30_000 }).toBe(1);
    await client.close();
  });

  it('answers 503 once closed, and builds nothing again', async () => {
    const own = await createBaton({
      config: { sessions: { store: 'memory' } },
      logger: 'error',
      toolsets: [fromSdkServer('again', register)],
    });
    const before = sdkServer;
    await own.close();
    const after = await own.fetch(new Request('http://localhost/healthz'));
    expect(after.status).toBe(503);
    await expect(own.cleanup()).rejects.toThrow('closed');
    expect(sdkServer).toBe(before);
  });

  it('closes the SDK server with the platform', async () => {
    const own = await createBaton({
      config: { sessions: { store: 'memory' } },
      logger: 'error',
      toolsets: [fromSdkServer('again', register)],
    });
    await own.ready();
    expect(sdkServer!.isConnected()).toBe(true);
    await own.close();
    expect(sdkServer!.isConnected()).toBe(false);
  });

  it('refuses two toolsets that declare one tool name, naming both, as a configuration error, and opens nothing', async () => {
    const mine = defineToolset({
      name: 'mine',
      description: 'a tool of my own',
      tools: [{ name: 'add', description: 'clashes', input: { n: z.number() }, handler: () => text('x') }],
    });
    const refused = createBaton({
      config: { sessions: { store: 'memory' } },
      logger: 'error',
      toolsets: [fromSdkServer('stock', register), mine],
    });
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow('toolsets: tool "add" is declared by toolsets "stock" and "mine"');
    expect(sdkServer!.isConnected()).toBe(false);
  });
});

describe('fromSdkServer: what the SDK server registers after start', () => {
  let sdk: McpServer;
  let baton: Baton;
  beforeAll(async () => {
    baton = await createBaton({
      config: { sessions: { store: 'memory' } },
      logger: 'error',
      toolsets: [
        fromSdkServer('live', (server) => {
          sdk = server;
          server.registerTool('first', { description: 'There from the start.' }, async () => ({
            content: [{ type: 'text', text: 'first' }],
          }));
          server.registerPrompt('greeting', { description: 'There from the start.' }, () => ({
            messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }],
          }));
          server.registerResource('start', 'test://start', { description: 'There from the start.' }, async (uri) => ({
            contents: [{ uri: uri.href, text: 'start' }],
          }));
        }),
      ],
    });
  });
  afterAll(async () => {
    await baton?.close();
  });

  it('is served once registered, gone once removed, and every open stream is told (list_changed)', async () => {
    // An event stream of another session, open (primed) before anything changes, hears of each
    // change once the platform serves it.
    const observer = new RawSession((r) => baton.fetch(r));
    await observer.initialize();
    const stream = new SseReader(await observer.send('GET', undefined));
    await stream.next();
    const announced = async () => (await stream.until((event) => event.message !== undefined)).at(-1)!.message.method;
    const client = await connect(baton);
    try {
      const later = sdk.registerTool(
        'later',
        { description: 'Registered after start.', inputSchema: { n: z.number() } },
        async ({ n }) => ({ content: [{ type: 'text', text: `later ${n}` }] }),
      );
      expect(await announced()).toBe('notifications/tools/list_changed');
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['first', 'later']);
      expect((await client.callTool({ name: 'later', arguments: { n: 2 } })).content).toEqual([{ type: 'text', text: 'later 2' }]);

      sdk.registerPrompt('farewell', { description: 'Registered after start.' }, () => ({
        messages: [{ role: 'user', content: { type: 'text', text: 'bye' } }],
      }));
      expect(await announced()).toBe('notifications/prompts/list_changed');
      expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toEqual(['greeting', 'farewell']);
      expect((await client.getPrompt({ name: 'farewell' })).messages[0]!.content).toEqual({ type: 'text', text: 'bye' });

      sdk.registerResource('later', 'test://later', { description: 'Registered after start.' }, async (uri) => ({
        contents: [{ uri: uri.href, text: 'later' }],
      }));
      expect(await announced()).toBe('notifications/resources/list_changed');
      expect((await client.listResources()).resources.map((resource) => resource.uri)).toEqual(['test://start', 'test://later']);
      expect((await client.readResource({ uri: 'test://later' })).contents).toEqual([{ uri: 'test://later', text: 'later' }]);

      later.remove();
      expect(await announced()).toBe('notifications/tools/list_changed');
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['first']);
      await expect(client.callTool({ name: 'later', arguments: { n: 2 } })).rejects.toThrow(/later/);
    } finally {
      await stream.cancel();
      await client.close();
    }
  });
});
