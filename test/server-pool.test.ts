// Restored servers kept per session (src/era-2025/server-pool.ts): the pool's bookkeeping, and what
// the platform does with it: a session is restored once per instance, concurrent requests of a
// session get servers of their own, work left behind by an answered request cannot reach the
// next one, and DELETE stops what a session still runs. Also the answer held back to be sent
// whole (src/era-2025/instance.ts `serve`), over a real Node HTTP server. What overlaps with what
// is decided by the test (calls wait at a gate, test/helpers/gate.ts), never by sleeping.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform, type PlatformOptions } from '../src/platform/platform.js';
import { defineTool, text } from '../src/core/define.js';
import { TOOLSET_FACTORIES } from '../src/tools/index.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { ServerPool, type SessionServer } from '../src/era-2025/server-pool.js';
import { RequestTransport } from '../src/era-2025/transport.js';
import { PostTransport } from '../src/era-2025/post-transport.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { deferred, Gate } from './helpers/gate.js';
import { RawSession, readMessages } from './helpers/mcp.js';

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

  it('watches a session while it has idle servers: from the first given back until the last taken, evicted or dropped', () => {
    const watched: string[] = [];
    const pool = new ServerPool({ total: 2, perSession: 4 }, (sessionId) => {
      watched.push(sessionId);
      return () => watched.splice(watched.indexOf(sessionId), 1);
    });
    pool.give('s1', entry('a'));
    pool.give('s1', entry('b'));
    expect(watched).toEqual(['s1']);
    pool.take('s1');
    expect(watched).toEqual(['s1']);
    pool.take('s1');
    expect(watched).toEqual([]);
    pool.give('s1', entry('a'));
    pool.give('s2', entry('x'));
    // Over the total: s1, least recently used, loses its only server.
    pool.give('s3', entry('y'));
    expect(watched).toEqual(['s2', 's3']);
    pool.drop('s2');
    pool.clear();
    expect(watched).toEqual([]);
    expect(pool.size).toBe(0);
  });
});

/**
 * `answer_then_log` answers at once and logs once more when the test says so (`lateLog`), after
 * its request was answered; what became of that log message is recorded in `lateLogs`.
 */
const lateLogs: string[] = [];
let lateLog = deferred();
let lateLogDone = deferred();
const gate = new Gate();
const removers: (() => void)[] = [];
beforeAll(() => {
  removers.push(gate.register('gate'));
  TOOLSET_FACTORIES.pool_probe = () => ({
    name: 'pool_probe',
    description: 'test',
    tools: [
      defineTool({
        name: 'answer_then_log',
        description: 'Answers, then logs when the test says so.',
        input: {},
        handler: (_args, ctx) => {
          void lateLog.promise
            .then(() => ctx.log('info', 'late message'))
            .then(
              () => lateLogs.push('delivered'),
              (error: Error) => lateLogs.push(`refused: ${error.message}`),
            )
            .finally(() => lateLogDone.resolve(undefined));
          return text('answered');
        },
      }),
    ],
  });
});
afterAll(() => {
  delete TOOLSET_FACTORIES.pool_probe;
  for (const remove of removers) remove();
});

describe('the pool in the platform', () => {
  let db: TestDatabase;
  const platforms: Platform[] = [];
  const platform = async (extra: Record<string, unknown> = {}) => {
    const created = await createPlatform(parseConfig({ toolsets: ['conformance', 'pool_probe', 'gate'], ...extra }, {}), {
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
    // Eight calls in the tool at once: each has a server of its own.
    gate.reset();
    const calls = Array.from({ length: 8 }, () => session.callTool('wait_at_gate'));
    await gate.arrived(8);
    // One server came from the pool (the initialize one), seven were restored.
    expect(restore).toHaveBeenCalledTimes(7);
    gate.open();
    expect((await Promise.all(calls)).map((c) => c.result.content[0].text)).toEqual(Array(8).fill('passed'));

    // Four are kept for the session: four calls at once need no restore, a fifth does.
    restore.mockClear();
    gate.reset();
    const four = Array.from({ length: 4 }, () => session.callTool('wait_at_gate'));
    await gate.arrived(4);
    expect(restore).not.toHaveBeenCalled();
    gate.open();
    await Promise.all(four);
    gate.reset();
    const five = Array.from({ length: 5 }, () => session.callTool('wait_at_gate'));
    await gate.arrived(5);
    expect(restore).toHaveBeenCalledTimes(1);
    gate.open();
    await Promise.all(five);
  });

  it('a message a tool sends after its answer reaches no later request, even one reusing its id', async () => {
    lateLogs.length = 0;
    lateLog = deferred();
    lateLogDone = deferred();
    const p = await platform();
    const session = await sessionOn(p);
    const body = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'answer_then_log', arguments: {} } };
    const first = await readMessages(await session.send('POST', body));
    expect(first).toEqual([
      expect.objectContaining({ id: 7, result: expect.objectContaining({ content: [{ type: 'text', text: 'answered' }] }) }),
    ]);
    // Same id again (allowed once the first is answered), on the same pooled server; while it
    // runs, the first call's tool sends its late log message.
    gate.reset();
    const second = session.send('POST', { ...body, params: { name: 'wait_at_gate', arguments: {} } });
    await gate.arrived(1);
    lateLog.resolve(undefined);
    await lateLogDone.promise;
    expect(lateLogs).toEqual(['refused: Not connected: the request this message belongs to was already answered']);
    gate.open();
    expect(await readMessages(await second)).toEqual([
      expect.objectContaining({ id: 7, result: expect.objectContaining({ content: [{ type: 'text', text: 'passed' }] }) }),
    ]);
  });

  it('a cancelled request ends its exchange: the stream closes without an answer and the session goes on', async () => {
    const p = await platform();
    const session = await sessionOn(p);
    gate.reset();
    const running = session.send('POST', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'wait_at_gate', arguments: {} } });
    await gate.arrived(1);
    expect(p.instance.unfinishedRequests).toBe(1);
    expect((await session.notify('notifications/cancelled', { requestId: 5, reason: 'changed my mind' })).status).toBe(202);
    const response = await running;
    expect(response.status).toBe(200);
    expect(await readMessages(response)).toEqual([]);
    // The tool itself was told: its request's signal fired (the gate never opened).
    await gate.left(1);
    expect(gate.exits).toEqual(['aborted']);
    expect(p.instance.unfinishedRequests).toBe(0);
    expect((await session.callTool('test_simple_text')).result.content[0].text).toMatch(/simple text/);
  });

  it('DELETE stops what the session still runs, and its servers are not used again', async () => {
    const p = await platform();
    const session = await sessionOn(p);
    gate.reset();
    const running = session.callTool('wait_at_gate');
    await gate.arrived(1);
    expect((await session.delete()).status).toBe(200);
    const outcome = await running;
    expect(outcome.result).toBeUndefined();
    await gate.left(1);
    expect(gate.exits).toEqual(['aborted']);
    expect((await session.callTool('test_simple_text')).status).toBe(404);
  });

  it('a request the HTTP transport fails on ends its exchange: 500, and nothing stays in flight', async () => {
    const p = await platform();
    const session = await sessionOn(p);
    // The POST's transport only throws on faults this test cannot cause for real; a stub stands in
    // for one such fault, once.
    vi.spyOn(PostTransport.prototype, 'handleRequest').mockRejectedValueOnce(new Error('transport fault'));
    expect((await session.callTool('test_simple_text')).status).toBe(500);
    expect(p.instance.unfinishedRequests).toBe(0);
    expect((await session.callTool('test_simple_text')).result.content[0].text).toMatch(/simple text/);
  });
});

describe('answers held back to be sent whole (Node HTTP server)', () => {
  const running: { platform: Platform; server: Server }[] = [];
  /** A platform behind a real Node HTTP server (@hono/node-server, as the Node entry uses). */
  const listen = async (options: Pick<PlatformOptions, 'answerHoldMs'> = {}) => {
    const platform = await createPlatform(parseConfig({ toolsets: ['conformance', 'gate'] }, {}), { logger: quiet, ...options });
    const server = serve({ fetch: platform.app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(server, 'listening');
    running.push({ platform, server });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    const session = new RawSession((r) => fetch(r), url);
    await session.initialize();
    return session;
  };
  afterAll(async () => {
    for (const { platform, server } of running) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await platform.close();
    }
  });

  const call = (s: RawSession, name: string, args: Record<string, unknown> = {}) =>
    s.send('POST', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: args } });

  it('a lone answer ready within the hold goes out with a Content-Length, as an event stream', async () => {
    // A hold far longer than any answer takes, so that the machine's speed cannot matter.
    const response = await call(await listen({ answerHoldMs: 60_000 }), 'test_simple_text');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('transfer-encoding')).toBeNull();
    const body = await response.text();
    expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(body));
    expect(body).toMatch(/^event: message\ndata: \{"result":.*"id":2\}\n\n$/);
  });

  it('notifications before the answer are streamed as they come', async () => {
    const response = await call(await listen({ answerHoldMs: 60_000 }), 'test_tool_with_logging');
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const messages = await readMessages(response);
    expect(messages.map((m) => m.method ?? 'result')).toEqual([
      'notifications/message',
      'notifications/message',
      'notifications/message',
      'result',
    ]);
  });

  it('an answer that is not ready within the hold is streamed: the headers come first', async () => {
    const session = await listen();
    gate.reset();
    // The headers arrive while the call still waits at the gate, which opens only afterwards.
    const response = await call(session, 'wait_at_gate');
    expect(gate.exits).toEqual([]);
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    gate.open();
    const messages = await readMessages(response);
    expect(messages.at(-1).result.content[0].text).toBe('passed');
  });
});
