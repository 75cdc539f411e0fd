// Restored servers kept per session (src/mcp/server-pool.ts): the pool's bookkeeping, and what
// the platform does with it: a session is restored once per instance, concurrent requests of a
// session get servers of their own, work left behind by an answered request cannot reach the
// next one, and DELETE stops what a session still runs. Also the answer held back to be sent
// whole (src/sessions/handler.ts `exchange`), over a real Node server.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform.js';
import { defineTool, text } from '../src/tools/define.js';
import { TOOLSET_FACTORIES } from '../src/tools/index.js';
import { openNodeDatabase } from '../src/db/open-node.js';
import { ServerPool, type SessionServer } from '../src/mcp/server-pool.js';
import { RequestTransport } from '../src/mcp/transport.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { MCP_HEADERS, RawSession, readMessages } from './helpers/mcp.js';

const quiet = createLogger('error');

describe('ServerPool', () => {
  const entry = (name: string) => ({ server: { name }, transport: {} }) as unknown as SessionServer;
  const names = (pool: ServerPool, sessionId: string) => {
    const out: string[] = [];
    for (let e = pool.take(sessionId); e; e = pool.take(sessionId)) out.push((e.server as unknown as { name: string }).name);
    return out;
  };

  it('gives a session back only its own servers, the most recently returned first', () => {
    const pool = new ServerPool({ total: 10, perSession: 4 });
    pool.give('s1', entry('a'));
    pool.give('s2', entry('x'));
    pool.give('s1', entry('b'));
    expect(pool.size).toBe(3);
    expect(pool.take('nobody')).toBeUndefined();
    expect(names(pool, 's1')).toEqual(['b', 'a']);
    expect(names(pool, 's2')).toEqual(['x']);
    expect(pool.size).toBe(0);
  });

  it('keeps at most perSession per session, and total in all by dropping the least recently used session', () => {
    const pool = new ServerPool({ total: 3, perSession: 2 });
    for (const name of ['a', 'b', 'c']) pool.give('s1', entry(name));
    expect(pool.size).toBe(2);
    pool.give('s2', entry('x'));
    pool.give('s3', entry('y'));
    // s1 was used least recently: its oldest server goes first.
    expect(pool.size).toBe(3);
    expect(names(pool, 's1')).toEqual(['b']);
    pool.give('s2', entry('x2'));
    pool.give('s4', entry('z'));
    expect(names(pool, 's3')).toEqual([]);
    expect(names(pool, 's2')).toEqual(['x2', 'x']);
    expect(names(pool, 's4')).toEqual(['z']);
  });

  it('drop forgets a session', () => {
    const pool = new ServerPool({ total: 10, perSession: 4 });
    pool.give('s1', entry('a'));
    pool.give('s1', entry('b'));
    pool.give('s2', entry('x'));
    pool.drop('s1');
    pool.drop('s1');
    expect(pool.size).toBe(1);
    expect(pool.take('s1')).toBeUndefined();
  });
});

/** A tool that answers at once and logs once more a little later, when its request is over. */
const lateLogs: string[] = [];
/** What `wait_for_abort` saw: 'aborted' when its request's signal fired, 'timed out' otherwise. */
const abortSeen: string[] = [];
beforeAll(() => {
  TOOLSET_FACTORIES.pool_probe = () => ({
    name: 'pool_probe',
    description: 'test',
    tools: [
      defineTool({
        name: 'answer_then_log',
        description: 'Answers, then logs 30 ms later.',
        input: {},
        handler: (_args, ctx) => {
          setTimeout(() => {
            ctx.log('info', 'late message').then(
              () => lateLogs.push('delivered'),
              (error: Error) => lateLogs.push(`refused: ${error.message}`),
            );
          }, 30);
          return text('answered');
        },
      }),
      defineTool({
        name: 'wait_for_abort',
        description: 'Waits until its request is aborted, or 10 s.',
        input: {},
        handler: async (_args, ctx) => {
          const aborted = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), 10_000);
            ctx.signal.addEventListener(
              'abort',
              () => {
                clearTimeout(timer);
                resolve(true);
              },
              { once: true },
            );
          });
          abortSeen.push(aborted ? 'aborted' : 'timed out');
          return text('done waiting');
        },
      }),
    ],
  });
});
afterAll(() => {
  delete TOOLSET_FACTORIES.pool_probe;
});

describe('the pool in the platform', () => {
  let db: TestDatabase;
  const platforms: Platform[] = [];
  const platform = async (extra: Record<string, unknown> = {}) => {
    const created = await createPlatform(parseConfig({ toolsets: ['conformance', 'diagnostics', 'pool_probe'], ...extra }, {}), {
      logger: quiet,
      openDatabase: openNodeDatabase,
    });
    platforms.push(created);
    return created;
  };
  const sessionOn = async (on: Platform) => {
    const session = new RawSession((r) => on.app.fetch(r));
    await session.initialize();
    return session;
  };

  beforeAll(async () => {
    db = await createTestDatabase('baton_pool');
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(platforms.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('restores a session once per instance: later requests reuse the restored server', async () => {
    const extra = { sessions: { store: 'database' }, database: { dsn: db.url } };
    const [a, b] = [await platform(extra), await platform(extra)];
    const restore = vi.spyOn(RequestTransport.prototype, 'restore');
    const session = await sessionOn(a);
    // The server that answered initialize serves the session from then on.
    for (let i = 0; i < 5; i++) expect((await session.callTool('test_simple_text')).result.content[0].text).toMatch(/simple text/);
    expect(restore).not.toHaveBeenCalled();

    // Another instance restores it from the store once, then reuses that.
    const onB = new RawSession((r) => b.app.fetch(r));
    onB.id = session.id;
    for (let i = 0; i < 5; i++) expect((await onB.callTool('test_simple_text')).status).toBe(200);
    expect(restore).toHaveBeenCalledTimes(1);
    // What it restored is what the session negotiated: a capability-dependent tool still works.
    expect((await onB.callTool('test_tool_with_logging')).messages.filter((m) => m.method === 'notifications/message')).toHaveLength(3);
  });

  it('serves concurrent requests of one session on servers of their own, and keeps a few of them', async () => {
    const p = await platform();
    const restore = vi.spyOn(RequestTransport.prototype, 'restore');
    const session = await sessionOn(p);
    const calls = await Promise.all(Array.from({ length: 8 }, (_, i) => session.callTool('sleep', { ms: 200 + i })));
    expect(calls.map((c) => c.result.content[0].text)).toEqual(Array.from({ length: 8 }, (_, i) => `slept ${200 + i} ms`));
    // One server came from the pool (the initialize one), seven were restored.
    expect(restore).toHaveBeenCalledTimes(7);
    // Four are kept for the session: four calls at once need no restore, a fifth does.
    restore.mockClear();
    await Promise.all(Array.from({ length: 4 }, () => session.callTool('sleep', { ms: 200 })));
    expect(restore).not.toHaveBeenCalled();
    await Promise.all(Array.from({ length: 5 }, () => session.callTool('sleep', { ms: 200 })));
    expect(restore).toHaveBeenCalledTimes(1);
  });

  it('a message a tool sends after its answer reaches no later request, even one reusing its id', async () => {
    lateLogs.length = 0;
    const p = await platform();
    const session = await sessionOn(p);
    const body = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'answer_then_log', arguments: {} } };
    const first = await readMessages(await session.send('POST', body));
    expect(first).toEqual([
      expect.objectContaining({ id: 7, result: expect.objectContaining({ content: [{ type: 'text', text: 'answered' }] }) }),
    ]);
    // Same id again (allowed once the first is answered), on the same pooled server, while the
    // first call's late log fires.
    const second = await readMessages(await session.send('POST', { ...body, params: { name: 'sleep', arguments: { ms: 150 } } }));
    expect(second).toEqual([
      expect.objectContaining({ id: 7, result: expect.objectContaining({ content: [{ type: 'text', text: 'slept 150 ms' }] }) }),
    ]);
    expect(lateLogs).toEqual(['refused: Not connected: the request this message belongs to was already answered']);
  });

  it('a cancelled request ends its exchange: the stream closes without an answer and the session goes on', async () => {
    const p = await platform();
    const session = await sessionOn(p);
    const started = Date.now();
    const running = session.send('POST', {
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'sleep', arguments: { ms: 10_000 } },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(p.instance.unfinishedRequests).toBe(1);
    expect((await session.notify('notifications/cancelled', { requestId: 5, reason: 'changed my mind' })).status).toBe(202);
    const response = await running;
    expect(response.status).toBe(200);
    expect(await readMessages(response)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(p.instance.unfinishedRequests).toBe(0);
    expect((await session.callTool('test_simple_text')).result.content[0].text).toMatch(/simple text/);
  });

  it('DELETE stops what the session still runs, and its servers are not used again', async () => {
    abortSeen.length = 0;
    const p = await platform();
    const session = await sessionOn(p);
    const started = Date.now();
    const running = session.callTool('wait_for_abort');
    await new Promise((r) => setTimeout(r, 200));
    expect((await session.delete()).status).toBe(200);
    const outcome = await running;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(outcome.result).toBeUndefined();
    // The tool itself was told: its request's signal fired.
    await expect.poll(() => abortSeen, { timeout: 2_000 }).toEqual(['aborted']);
    expect((await session.callTool('test_simple_text')).status).toBe(404);
  });

  it('a request the HTTP transport fails on ends its exchange: 500, and nothing stays in flight', async () => {
    const p = await platform();
    const session = await sessionOn(p);
    // The SDK transport only throws on faults this test cannot cause for real; a stub stands in
    // for one such fault, once.
    vi.spyOn(WebStandardStreamableHTTPServerTransport.prototype, 'handleRequest').mockRejectedValueOnce(new Error('transport fault'));
    expect((await session.callTool('test_simple_text')).status).toBe(500);
    expect(p.instance.unfinishedRequests).toBe(0);
    expect((await session.callTool('test_simple_text')).result.content[0].text).toMatch(/simple text/);
  });
});

describe('answers held back to be sent whole (Node server)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ BATON_TOOLSETS: 'conformance,diagnostics' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const session = async () => {
    const s = new RawSession((r) => fetch(r), server.url);
    await s.initialize();
    return s;
  };
  const call = (s: RawSession, name: string, args: Record<string, unknown> = {}) =>
    s.send('POST', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: args } });

  it('a lone answer ready at once goes out with a Content-Length, as an event stream', async () => {
    const response = await call(await session(), 'test_simple_text');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('transfer-encoding')).toBeNull();
    const text = await response.text();
    expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect(text).toMatch(/^event: message\ndata: \{"result":.*"id":2\}\n\n$/);
  });

  it('notifications before the answer are streamed as they come', async () => {
    const response = await call(await session(), 'test_tool_with_logging');
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const messages = await readMessages(response);
    expect(messages.map((m) => m.method ?? 'result')).toEqual([
      'notifications/message',
      'notifications/message',
      'notifications/message',
      'result',
    ]);
  });

  it('an answer that takes longer is streamed: the headers come first', async () => {
    const sent = Date.now();
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, 'mcp-session-id': (await session()).id, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 1500 } } }),
    });
    const headersAfter = Date.now() - sent;
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const messages = await readMessages(response);
    const answeredAfter = Date.now() - sent;
    expect(messages.at(-1).result.content[0].text).toBe('slept 1500 ms');
    // Held for 20 ms at most, then streamed: the headers come long before the answer.
    expect(headersAfter).toBeLessThan(1000);
    expect(answeredAfter).toBeGreaterThanOrEqual(1500);
  });
});
