// The exchange router's rules, on one instance with the SDK's real server and the POST transport: the
// ids the server sees, what it may still send once a request was answered, where a client's reply
// goes, and a cancel reaching the server (also one that came before its request).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostTransport } from '../src/era-2025/post-transport.js';
import type { JSONRPCMessage, JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ExchangeRouter, type Exchange } from '../src/era-2025/exchange-router.js';
import { isRequest } from '../src/era-2025/exchange.js';
import { connectServer, type SessionServer } from '../src/era-2025/server-pool.js';
import { createDispatcher, serveScope } from '../src/era-2025/server.js';
import { Registry } from '../src/core/registry.js';
import { SessionState } from '../src/core/session-state.js';
import { acceptedContent, defineTool, defineToolset, inputRequired, text } from '../src/core/define.js';
import { InProcessChannel } from '../src/store/channel/in-process.js';
import { changeNotifier } from '../src/store/channel/changes.js';
import { createLogger } from '../src/log.js';
import { Gate } from './helpers/gate.js';
import { SseReader } from './helpers/sse.js';

const INSTANCE = 'routertest01';
const SESSION = 'session-a';

describe('the exchange router', () => {
  const gate = new Gate();
  /** The notification a tool kept to send after its request was answered. */
  let late: (() => Promise<void>) | undefined;
  const registry = new Registry([
    gate.toolset('gate'),
    defineToolset({
      name: 'router',
      description: 'test',
      tools: [
        defineTool({ name: 'echo', description: 'Answers at once.', input: {}, handler: () => text('echo') }),
        defineTool({
          name: 'leave_work',
          description: 'Answers, and keeps a way to send a notification later.',
          input: {},
          handler: (_args, ctx) => {
            late = () => ctx.notify({ method: 'notifications/message', params: { level: 'info', data: 'late' } });
            return text('answered');
          },
        }),
        defineTool({
          name: 'ask',
          description: 'Asks the client for a name, then greets it.',
          input: {},
          handler: (_args, ctx) => {
            const name = acceptedContent(ctx.inputResponses, 'name', z.object({ name: z.string() }))?.name;
            if (name === undefined) {
              const requestedSchema = { type: 'object' as const, properties: { name: { type: 'string' as const } }, required: ['name'] };
              return inputRequired({ inputRequests: { name: inputRequired.elicit({ message: 'Name?', requestedSchema }) } });
            }
            return text(`Hello, ${name}!`);
          },
        }),
      ],
    }),
  ]);

  let logs: { msg: string; why?: string }[];
  let router: ExchangeRouter;
  let server: SessionServer;
  /** Every message the server received, as the server saw it. */
  let seen: JSONRPCMessage[];

  beforeEach(async () => {
    gate.reset();
    late = undefined;
    logs = [];
    const channel = new InProcessChannel(60_000);
    router = new ExchangeRouter(
      INSTANCE,
      channel,
      createLogger('debug', (line) => logs.push(JSON.parse(line))),
    );
    server = await connectServer(registry, SESSION, router);
    await server.transport.restore({
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {} }, clientInfo: { name: 'test', version: '1' } },
    });
    serveScope(server.server, createDispatcher(registry), {
      sessionId: SESSION,
      session: new SessionState(),
      credentialHash: '',
      principal: undefined,
      changes: changeNotifier(channel),
    });
    seen = [];
    const deliver = server.transport.onmessage!;
    server.transport.onmessage = (message, extra) => {
      seen.push(message);
      deliver(message, extra);
    };
  });

  afterEach(async () => {
    gate.open();
    await server.transport.close();
    router.close();
  });

  const call = (id: number, name: string): JSONRPCRequest => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: {} },
  });

  /** Attaches one HTTP request to the server: JSON answered as it comes, or an event stream whose last answer is held. */
  async function serve(message: JSONRPCRequest, held: boolean): Promise<{ exchange: Exchange; response: Response }> {
    const inner = new PostTransport({ json: !held });
    const exchange = await server.transport.attach(inner, { requestIds: [message.id], holdLastAnswer: held });
    return { exchange, response: await exchange.handle(post(message), message) };
  }

  const post = (body: unknown) =>
    new Request('http://localhost/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(body),
    });

  const dropped = () => logs.filter((line) => line.msg === 'reply dropped').map((line) => line.why);

  it('shows the server ids of its own for the client requests, and answers under the client ids', async () => {
    for (let i = 0; i < 2; i++) {
      const { exchange, response } = await serve(call(1, 'echo'), false);
      expect(await response.json()).toMatchObject({ id: 1, result: { content: [{ text: 'echo' }] } });
      expect(await exchange.done).toBe(true);
    }
    const ids = seen.filter(isRequest).map((message) => message.id);
    expect(ids).toHaveLength(2);
    expect(ids.every((id) => typeof id === 'string' && /^~\d+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(2);
  });

  it('refuses what a tool sends after its request was answered, in its exchange and in a later one reusing its id', async () => {
    // One HTTP request with two calls: the first is answered while the second still runs.
    const inner = new PostTransport();
    const batch = [call(1, 'leave_work'), call(2, 'wait_at_gate')];
    const first = await server.transport.attach(inner, { requestIds: [1, 2], holdLastAnswer: true });
    const stream = new SseReader(await first.handle(post(batch), batch));
    await stream.until((event) => event.message?.id === 1);
    await gate.arrived(1);
    await expect(late!()).rejects.toThrow(/already answered/);
    gate.open();
    const answered = await first.outcome;
    await first.finish(answered.kind === 'answered' ? answered.message : undefined);
    expect((await stream.rest()).map((event) => event.message?.id)).toEqual([2]);

    gate.reset();
    const second = await serve(call(1, 'wait_at_gate'), true);
    await gate.arrived(1);
    await expect(late!()).rejects.toThrow(/already answered/);
    gate.open();
    const outcome = await second.exchange.outcome;
    expect(outcome).toMatchObject({ kind: 'answered', message: { id: 1, result: { content: [{ text: 'passed' }] } } });
    await second.exchange.finish(outcome.kind === 'answered' ? outcome.message : undefined);
    expect(await second.exchange.done).toBe(true);
    const messages = (await new SseReader(second.response).rest()).filter((event) => event.message).map((event) => event.message);
    expect(messages).toEqual([expect.objectContaining({ id: 1, result: expect.anything() })]);
    // Once finished, the exchange sends nothing more.
    await second.exchange.finish({ jsonrpc: '2.0', id: 1, result: {} });
  });

  it('delivers a reply to the request that waits for it, and drops one nothing here waits for', async () => {
    const { exchange, response } = await serve(call(3, 'ask'), true);
    const events = await new SseReader(response).until((event) => event.message?.method === 'elicitation/create');
    const elicitation = events.at(-1)!.message;
    expect(elicitation.id).toMatch(new RegExp(`^${INSTANCE}\\.\\d+$`));
    const reply = { jsonrpc: '2.0' as const, id: elicitation.id, result: { action: 'accept', content: { name: 'Ada' } } };

    // Another session's client cannot answer for this one; made-up ids go nowhere.
    expect(await router.route('session-b', [reply])).toEqual([]);
    expect(await router.route(SESSION, [{ ...reply, id: `${INSTANCE}.999` }])).toEqual([]);
    expect(await router.route(SESSION, [{ ...reply, id: 7 }])).toEqual([]);
    expect(dropped()).toEqual(['nothing waits for it', 'nothing waits for it', 'not an id this server gave out']);

    expect(await router.route(SESSION, [reply])).toEqual([]);
    const outcome = await exchange.outcome;
    expect(outcome).toMatchObject({ kind: 'answered', message: { id: 3, result: { content: [{ text: 'Hello, Ada!' }] } } });
    // The server saw the reply under the id it had given its request.
    const serverIds = seen.filter((message) => 'result' in message).map((message) => (message as { id: unknown }).id);
    expect(serverIds).toHaveLength(1);
    expect(serverIds[0]).not.toBe(elicitation.id);

    // Answered: the same reply again finds nothing waiting.
    expect(await router.route(SESSION, [reply])).toEqual([]);
    expect(dropped()).toHaveLength(4);
    await exchange.finish(outcome.kind === 'answered' ? outcome.message : undefined);
  });

  it('carries a cancel to the server under its own id: the tool is aborted and nothing answers', async () => {
    const { exchange, response } = await serve(call(4, 'wait_at_gate'), true);
    await gate.arrived(1);
    const other: JSONRPCMessage = { jsonrpc: '2.0', method: 'notifications/roots/list_changed' };
    const cancel: JSONRPCMessage = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4 } };
    expect(await router.route(SESSION, [cancel, other])).toEqual([other]);
    await gate.left(1);
    expect(gate.exits).toEqual(['aborted']);
    const request = seen.find(isRequest)!;
    expect(seen).toContainEqual({ ...cancel, params: { requestId: request.id } });
    expect(await exchange.outcome).toEqual({ kind: 'cancelled' });
    await exchange.finish();
    expect((await new SseReader(response).rest()).filter((event) => event.message)).toEqual([]);
    expect(await exchange.done).toBe(true);
  });

  it('keeps a cancel that came before its request, and applies it when the request reaches the server', async () => {
    const release = router.arriving(SESSION);
    const cancel: JSONRPCMessage = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5 } };
    // Nothing runs it yet: the cancel goes on the session's topic, where this instance listens.
    expect(await router.route(SESSION, [cancel])).toEqual([]);
    const { exchange, response } = await serve(call(5, 'wait_at_gate'), true);
    release();
    expect(await exchange.outcome).toEqual({ kind: 'cancelled' });
    const request = seen.find(isRequest)!;
    expect(seen).toContainEqual({ ...cancel, params: { requestId: request.id } });
    await exchange.finish();
    expect((await new SseReader(response).rest()).filter((event) => event.message)).toEqual([]);
  });
});
