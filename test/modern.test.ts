// The 2026-07-28 era beside the 2025 sessions: both SDK clients on one running server, and the
// requestState rules (sealed, bound to the caller and the request, expiring, verifiable by every
// instance, rotatable).
import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { connectClient, readMessages } from './helpers/mcp.js';
import { connectModernClient, modernRequest } from './helpers/modern.js';
import { SseReader } from './helpers/sse.js';
import { type RunningServer, startServer } from './helpers/server.js';

const quiet = createLogger('error');
const URL_ = 'http://127.0.0.1/mcp';
const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const SECRET_1 = 'first-request-state-secret-of-32-bytes!';
const SECRET_2 = 'second-request-state-secret-of-32-bytes';

const STATE_TOOL = 'test_input_required_result_request_state';
const CONFIRMED = { confirm: { action: 'accept', content: { ok: true } } };

let db: TestDatabase;
const platforms: Platform[] = [];

beforeAll(async () => {
  db = await createTestDatabase('baton_modern');
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await Promise.all(platforms.map((p) => p.close()));
  await db?.drop();
});

async function platform(settings: Record<string, unknown> = {}, store: 'memory' | 'database' = 'memory'): Promise<Platform> {
  const config = parseConfig(
    {
      toolsets: ['conformance'],
      auth: { api_keys: [KEY_A, KEY_B] },
      ...settings,
      ...(store === 'database' && { sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }),
    },
    {},
  );
  const p = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
  platforms.push(p);
  return p;
}

/** One JSON-RPC answer of a 2026-07-28 request, with the HTTP status. */
async function call(p: Platform, method: string, params: Record<string, unknown>, key = KEY_A) {
  const response = await p.app.fetch(modernRequest(URL_, method, params, { authorization: `Bearer ${key}` }));
  const [message] = await readMessages(response);
  return { status: response.status, message };
}

/** Round one of the requestState fixture: the sealed state it hands out. */
async function mint(p: Platform, key = KEY_A): Promise<string> {
  const { message } = await call(p, 'tools/call', { name: STATE_TOOL, arguments: {} }, key);
  expect(message.result).toMatchObject({ resultType: 'input_required', inputRequests: { confirm: { method: 'elicitation/create' } } });
  expect(typeof message.result.requestState).toBe('string');
  return message.result.requestState;
}

/** Round two: the confirmation and the state handed back. */
function redeem(p: Platform, requestState: string, key = KEY_A, tool = STATE_TOOL) {
  return call(p, 'tools/call', { name: tool, arguments: {}, inputResponses: CONFIRMED, requestState }, key);
}

function expectRefused(answer: { status: number; message: { error?: { code: number }; result?: unknown } }) {
  // Refused as a protocol error: never a result, and never a new prompt for input.
  expect(answer.message.result).toBeUndefined();
  expect(answer.message.error?.code).toBe(-32602);
}

describe('both eras on one running server', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ BATON_TOOLSETS: 'conformance' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('serves the SDK v1 client (2025-11-25 session) and the SDK v2 client (2026-07-28) side by side, each with an elicitation', async () => {
    const asked: string[] = [];
    const [legacy, modern] = await Promise.all([
      connectClient(server.url, {
        capabilities: { elicitation: {} },
        onElicit: (message) => {
          asked.push(`2025: ${message}`);
          return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
        },
      }),
      connectModernClient(server.url, {
        onElicit: (message) => {
          asked.push(`2026: ${message}`);
          return { action: 'accept', content: { username: 'grace', email: 'grace@example.com' } };
        },
      }),
    ]);
    expect(legacy.transport.sessionId).toBeDefined();
    expect(modern.client.getProtocolEra()).toBe('modern');

    const [old, next] = await Promise.all([
      legacy.client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you (2025)?' } }),
      modern.client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you (2026)?' } }),
    ]);
    expect(old.content).toEqual([
      { type: 'text', text: 'User response: action=accept, content={"username":"ada","email":"ada@example.com"}' },
    ]);
    expect(next.content).toEqual([
      { type: 'text', text: 'User response: action=accept, content={"username":"grace","email":"grace@example.com"}' },
    ]);
    expect(asked.sort()).toEqual(['2025: Who are you (2025)?', '2026: Who are you (2026)?']);
    await Promise.all([legacy.client.close(), modern.client.close()]);
  });
});

describe('requestState', () => {
  it('is redeemed with the answers it was minted beside', async () => {
    const p = await platform();
    const { message } = await redeem(p, await mint(p));
    expect(message.result.content).toEqual([{ type: 'text', text: 'state-ok: requestState verified and confirmation received' }]);
  });

  it('refuses a tampered state', async () => {
    const p = await platform();
    const state = await mint(p);
    // Flip one character of the body: the MAC no longer matches.
    const at = state.indexOf('.') + 5;
    const tampered = state.slice(0, at) + (state[at] === 'A' ? 'B' : 'A') + state.slice(at + 1);
    expectRefused(await redeem(p, tampered));
    expectRefused(await redeem(p, 'not-a-state-at-all'));
  });

  it("refuses another credential's state", async () => {
    const p = await platform();
    const state = await mint(p, KEY_A);
    expectRefused(await redeem(p, state, KEY_B));
    // The rightful caller still can.
    expect((await redeem(p, state, KEY_A)).message.result).toBeDefined();
  });

  it('refuses a state minted for another request', async () => {
    const p = await platform();
    expectRefused(await redeem(p, await mint(p), KEY_A, 'test_input_required_result_tampered_state'));
  });

  it('refuses a state minted for other arguments', async () => {
    const p = await platform();
    const state = await mint(p);
    const other = await call(p, 'tools/call', {
      name: STATE_TOOL,
      arguments: { extra: 1 },
      inputResponses: CONFIRMED,
      requestState: state,
    });
    expectRefused(other);
    // The same arguments again (the client retries the call as it was) are fine.
    expect((await redeem(p, state)).message.result).toBeDefined();
  });

  it('refuses an expired state', async () => {
    const p = await platform({ request_state: { ttl: '1m' } });
    const state = await mint(p);
    expect((await redeem(p, state)).message.result).toBeDefined();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 2 * 60_000);
    expectRefused(await redeem(p, state));
  });

  it('survives a key rotation: the new key signs, the previous one still verifies', async () => {
    const before = await platform({ request_state: { secret: SECRET_1 } });
    const during = await platform({ request_state: { secret: SECRET_2, previous_secrets: [SECRET_1] } });
    const after = await platform({ request_state: { secret: SECRET_2 } });
    const old = await mint(before);
    expect((await redeem(during, old)).message.result.content[0].text).toMatch(/^state-ok/);
    expectRefused(await redeem(after, old));
    // What the rotated platform signs, the old one cannot read: the new key really signs.
    const fresh = await mint(during);
    expect((await redeem(after, fresh)).message.result.content[0].text).toMatch(/^state-ok/);
    expectRefused(await redeem(before, fresh));
  });

  it('needs a key from the database: while it is away, 503 with Retry-After, saying nothing of where it is', async () => {
    const config = parseConfig(
      {
        toolsets: ['conformance'],
        auth: { api_keys: [KEY_A, KEY_B] },
        sessions: { store: 'database' },
        // Nothing listens on port 1.
        database: { driver: 'pg', dsn: 'postgres://baton@127.0.0.1:1/nowhere', statement_timeout: '2s' },
      },
      {},
    );
    const away = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    platforms.push(away);
    const response = await away.app.fetch(
      modernRequest(URL_, 'tools/call', { name: STATE_TOOL, arguments: {} }, { authorization: `Bearer ${KEY_A}` }),
    );
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    const text = await response.text();
    expect(text).not.toMatch(/127\.0\.0\.1|:1\b|nowhere|ECONNREFUSED/);
    // A request that needs no key is served without the database.
    expect((await call(away, 'tools/list', {})).message.result.tools.length).toBeGreaterThan(0);
  });

  it('is shared by instances on one database with no secret configured (generated once, kept in Postgres)', async () => {
    const [one, two] = await Promise.all([platform({}, 'database'), platform({}, 'database')]);
    const state = await mint(one);
    expect((await redeem(two, state)).message.result.content[0].text).toMatch(/^state-ok/);
    expect((await redeem(one, await mint(two))).message.result.content[0].text).toMatch(/^state-ok/);
  });

  it('with the memory store, is signed by a key of the process alone', async () => {
    const [one, two] = await Promise.all([platform(), platform()]);
    expectRefused(await redeem(two, await mint(one)));
  });
});

describe('the 2026-07-28 leg behind the same guards', () => {
  it('needs the same credential as the 2025 leg', async () => {
    const p = await platform({ auth: { api_keys: [KEY_A], required: true } });
    const response = await p.app.fetch(modernRequest(URL_, 'tools/list'));
    expect(response.status).toBe(401);
    expect((await call(p, 'tools/list', {})).message.result.tools.length).toBeGreaterThan(0);
  });

  it('refuses a foreign Origin and an oversized body', async () => {
    const p = await platform({ server: { max_body_bytes: 2048 } });
    const foreign = await p.app.fetch(
      modernRequest(URL_, 'tools/list', {}, { origin: 'https://evil.example', authorization: `Bearer ${KEY_A}` }),
    );
    expect(foreign.status).toBe(403);
    const big = await p.app.fetch(
      modernRequest(
        URL_,
        'tools/call',
        { name: 'test_simple_text', arguments: { pad: 'x'.repeat(4096) } },
        { authorization: `Bearer ${KEY_A}` },
      ),
    );
    expect(big.status).toBe(413);
  });

  it('answers the revision: server/discover, removed methods, caching hints, serverInfo', async () => {
    const p = await platform({ caching: { list_ttl: '30s', toolsets: { conformance: { read_ttl: '5s', scope: 'public' } } } });
    const discover = (await call(p, 'server/discover', {})).message.result;
    expect(discover.supportedVersions).toContain('2026-07-28');
    expect((await call(p, 'logging/setLevel', { level: 'info' })).message.error.code).toBe(-32601);
    expect((await call(p, 'resources/subscribe', { uri: 'test://static-text' })).message.error.code).toBe(-32601);
    const list = (await call(p, 'tools/list', {})).message.result;
    expect(list).toMatchObject({ ttlMs: 30_000, cacheScope: 'public' });
    const read = (await call(p, 'resources/read', { uri: 'test://static-text' })).message.result;
    expect(read).toMatchObject({ ttlMs: 5_000, cacheScope: 'public' });
    expect(read._meta['io.modelcontextprotocol/serverInfo']).toMatchObject({ name: 'mcp-baton' });
    const missing = (await call(p, 'resources/read', { uri: 'test://no-such-resource' })).message.error;
    expect(missing).toMatchObject({ code: -32602, data: { uri: 'test://no-such-resource' } });
  });

  it('answers 405 to GET and DELETE from a 2026-07-28 client', async () => {
    const p = await platform();
    for (const method of ['GET', 'DELETE']) {
      const response = await p.app.fetch(
        new Request(URL_, {
          method,
          headers: { 'mcp-protocol-version': '2026-07-28', accept: 'text/event-stream', authorization: `Bearer ${KEY_A}` },
        }),
      );
      expect(response.status, method).toBe(405);
    }
  });

  it('keeps a list private when one of its toolsets is, under a public default', async () => {
    const p = await platform({ caching: { scope: 'public', toolsets: { conformance: { scope: 'private' } } } });
    expect((await call(p, 'tools/list', {})).message.result.cacheScope).toBe('private');
  });

  it('answers 415 to a body that is not JSON', async () => {
    const response = await (await platform()).app.fetch(
      new Request(URL_, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' },
        body: 'hello',
      }),
    );
    expect(response.status).toBe(415);
  });

  it('ignores Mcp-Session-Id: the request is served without a session', async () => {
    const p = await platform();
    const response = await p.app.fetch(
      modernRequest(URL_, 'tools/list', {}, { authorization: `Bearer ${KEY_A}`, 'mcp-session-id': 'x'.repeat(32) }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    expect((await readMessages(response))[0].result.tools.length).toBeGreaterThan(0);
  });
});

describe('subscriptions/listen across instances', () => {
  /** Opens a listen stream on `p`; resolves once its acknowledgement came (the subscription is active from then on). */
  async function openListen(p: Platform): Promise<SseReader> {
    const listen = await p.app.fetch(
      modernRequest(URL_, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, { authorization: `Bearer ${KEY_A}` }),
    );
    expect(listen.status).toBe(200);
    const stream = new SseReader(listen);
    const acknowledged = 'notifications/subscriptions/acknowledged';
    expect((await stream.until((event) => event.message?.method === acknowledged)).at(-1)?.message?.method).toBe(acknowledged);
    return stream;
  }

  /** Reads until the stream ends; resolves once it did (the test's timeout bounds the wait). */
  async function ended(stream: SseReader): Promise<true> {
    await stream.rest();
    return true;
  }

  it('ends on shutdown (closeStreams), so that its client listens elsewhere', async () => {
    const p = await platform();
    const reader = await openListen(p);
    p.closeStreams();
    expect(await ended(reader)).toBe(true);
  });

  it('ends after channel.stream_timeout, and the client listens again', async () => {
    const p = await platform({ channel: { stream_timeout: '200ms' } });
    expect(await ended(await openListen(p))).toBe(true);
  });

  it('a stream ended by its timeout leaves no listener on its request signal (a host may keep that signal long)', async () => {
    const p = await platform({ channel: { stream_timeout: '200ms' } });
    const request = modernRequest(
      URL_,
      'subscriptions/listen',
      { notifications: { toolsListChanged: true } },
      { authorization: `Bearer ${KEY_A}` },
    );
    const before = getEventListeners(request.signal, 'abort').length;
    const listen = await p.app.fetch(request);
    expect(listen.status).toBe(200);
    expect(await ended(new SseReader(listen))).toBe(true);
    expect(getEventListeners(request.signal, 'abort')).toHaveLength(before);
  });

  it('a stream held by one instance hears a change announced on another (two platforms, one database)', async () => {
    const [a, b] = await Promise.all([platform({}, 'database'), platform({}, 'database')]);
    // As the Node server does at start: the store is ready (migrated, pg's LISTEN open).
    await Promise.all([a.store.ready?.(), b.store.ready?.()]);
    const stream = await openListen(a);
    const changed = stream.until((event) => event.message?.method === 'notifications/tools/list_changed');
    expect((await call(b, 'tools/call', { name: 'test_trigger_tool_change', arguments: {} })).message.result).toBeDefined();
    const events = await changed;
    await stream.cancel();
    expect(events.at(-1)?.message?.params._meta['io.modelcontextprotocol/subscriptionId']).toBeDefined();
  });
});
