// What a client can make the platform keep: the size of what `initialize` stores, how many live
// sessions one credential holds (a new one makes room by ending the least recently active), the
// resources a session subscribes to, and the size of a session's state. Both store kinds, at the
// store and through the HTTP app; and the memory store's shared copies of negotiated values go
// with the last session that uses them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { z } from 'zod';
import { SESSION_ENDED, sessionTopic, type SessionMessage } from '../src/store/channel/topics.js';
import { parseConfig } from '../src/config/index.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { MemorySessionStore } from '../src/store/memory-store.js';
import { newSessionId } from '../src/era-2025/ids.js';
import type { NewSession, SessionLimits, SessionStore } from '../src/store/types.js';
import { defineTool, text, type Toolset } from '../src/core/define.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession, readMessages } from './helpers/mcp.js';

const quiet = createLogger('error');
const HOUR = 3_600_000;
const MINUTE = 60_000;

let db: TestDatabase;
let admin: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase('baton_limits');
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

function session(credentialHash: string, capabilities: Record<string, unknown> = {}): NewSession {
  return {
    id: newSessionId(),
    credentialHash,
    protocolVersion: '2025-11-25',
    clientCapabilities: capabilities,
    clientInfo: { name: 'limits-test', version: '1' },
    state: {},
  };
}

/** A capabilities object whose JSON takes about `bytes` bytes. */
const sized = (bytes: number, tag = '') => ({ experimental: { padding: { text: `${tag}${'x'.repeat(bytes)}` } } });

interface StoreKind {
  name: 'memory' | 'database';
  open(limits: SessionLimits): Promise<SessionStore>;
  stored(store: SessionStore): Promise<number>;
  /** Ends a session's life as if its lifetime had passed. */
  expire(store: SessionStore, id: string): Promise<void>;
  /** Makes `id` the most recently active session of its credential (the others a minute older). */
  activeLast(store: SessionStore, id: string, credentialHash: string): Promise<void>;
}

let clock = Date.now();
const kinds: StoreKind[] = [
  {
    name: 'memory',
    open: async (limits) => new MemorySessionStore(limits, () => clock),
    stored: async (store) => (store as MemorySessionStore).size,
    expire: async () => {
      clock += 2 * HOUR;
    },
    activeLast: async (store, id, credentialHash) => {
      clock += MINUTE;
      expect((await store.open(id, credentialHash)).status).toBe('ok');
    },
  },
  {
    name: 'database',
    async open(limits) {
      await admin.query('drop schema if exists baton cascade; drop schema if exists drizzle cascade');
      const store = new DatabaseSessionStore(openPg({ dsn: db.url, statementTimeoutMs: 5_000 }), limits);
      await store.ready();
      return store;
    },
    stored: async () => Number((await admin.query('select count(*) as n from baton.sessions')).rows[0].n),
    expire: async (_store, id) => {
      await admin.query(`update baton.sessions set expires_at = now() - interval '1 second' where id = $1`, [id]);
    },
    activeLast: async (_store, id, credentialHash) => {
      await admin.query(
        `update baton.sessions set last_active_at = last_active_at - interval '1 minute' where credential_hash = $2 and id <> $1`,
        [id, credentialHash],
      );
    },
  },
];

/** The next message on a topic of the store's channel. */
function nextMessage(store: SessionStore, topic: string): Promise<unknown> {
  return new Promise((resolve) => {
    const subscription = store.channel.subscribe(topic, (message) => {
      subscription.unsubscribe();
      resolve(message.payload);
    });
  });
}

describe.each(kinds)('$name store', (kind) => {
  let store: SessionStore;
  beforeAll(async () => {
    store = await kind.open({ ttlMs: HOUR, idleTimeoutMs: HOUR, maxInitializeBytes: 4096, maxPerCredential: 2, maxStateBytes: 1024 });
  });
  afterAll(() => store?.close());

  it('refuses capabilities and clientInfo over max_initialize_bytes with a 413, storing nothing', async () => {
    const before = await kind.stored(store);
    await expect(store.create(session('size', sized(5000)))).rejects.toMatchObject({
      name: 'SessionRefusedError',
      status: 413,
      code: -32602,
      message: expect.stringMatching(
        /^Payload Too Large: initialize capabilities and clientInfo take \d+ bytes as JSON; a session keeps at most 4096 \(sessions\.max_initialize_bytes\)$/,
      ),
    });
    // Counted in bytes, not characters: 1500 three-byte characters are over 4096 bytes.
    await expect(store.create(session('size', { experimental: { text: '€'.repeat(1500) } }))).rejects.toMatchObject({ status: 413 });
    expect(await kind.stored(store)).toBe(before);
    // Just under the limit is stored.
    await store.create(session('size', sized(3500)));
    expect(await kind.stored(store)).toBe(before + 1);
  });

  it("makes room for a credential's new session by ending its least recently active one, and announces that end", async () => {
    const a1 = await store.create(session('cred-a'));
    const a2 = await store.create(session('cred-a'));
    await kind.activeLast(store, a1.id, 'cred-a');
    const ended = nextMessage(store, sessionTopic(a2.id));
    const a3 = await store.create(session('cred-a'));
    expect(await ended).toEqual(SESSION_ENDED);
    expect((await store.open(a2.id, 'cred-a')).status).toBe('not_found');
    for (const s of [a1, a3]) expect((await store.open(s.id, 'cred-a')).status).toBe('ok');

    // Another credential, and anonymous callers together, count apart: cred-a loses nothing.
    const b1 = await store.create(session('cred-b'));
    const anonymous = [await store.create(session('')), await store.create(session(''))];
    await kind.activeLast(store, anonymous[1]!.id, '');
    await store.create(session(''));
    expect((await store.open(anonymous[0]!.id, '')).status).toBe('not_found');
    for (const [s, credential] of [
      [anonymous[1]!, ''],
      [b1, 'cred-b'],
      [a1, 'cred-a'],
      [a3, 'cred-a'],
    ] as const) {
      expect((await store.open(s.id, credential)).status).toBe('ok');
    }

    // A session ended with DELETE frees its place, and so does one past its lifetime: nobody is evicted.
    expect(await store.remove(a1.id, 'cred-a')).toBe('ok');
    const a4 = await store.create(session('cred-a'));
    expect((await store.open(a3.id, 'cred-a')).status).toBe('ok');
    await kind.expire(store, a3.id);
    await store.create(session('cred-a'));
    if (kind.name === 'database') expect((await store.open(a4.id, 'cred-a')).status).toBe('ok');
  });

  it('refuses a state write that would make the state larger than max_state_bytes, storing and announcing nothing', async () => {
    const s = await store.create(session('state'));
    await store.update(s.id, { set: { small: 'x'.repeat(100) }, unset: [] });
    const announced = nextMessage(store, sessionTopic(s.id));
    const grow: SessionMessage = { kind: 'subscriptions', subscribed: ['grow'], unsubscribed: [] };
    await expect(store.update(s.id, { set: { big: 'x'.repeat(2000) }, unset: [] }, grow)).rejects.toMatchObject({
      name: 'SessionRefusedError',
      code: -32000,
      message: expect.stringMatching(/^Session state too large: .* at most 1024 bytes \(sessions\.max_state_bytes\)/),
    });
    expect((await store.live(s.id))!.state).toEqual({ small: 'x'.repeat(100) });
    // The refused write announced nothing: the first message on the topic is the next stored one.
    const fits: SessionMessage = { kind: 'subscriptions', subscribed: ['fits'], unsubscribed: [] };
    await store.update(s.id, { set: { fits: true }, unset: [] }, fits);
    expect(await announced).toEqual(fits);

    // A state already over the limit (the limit was lowered since): a write that does not make it
    // larger is stored, so that the session can shed keys; one that grows it is not.
    const over = await store.create({ ...session('state'), state: { big: 'x'.repeat(3000) } });
    await expect(store.update(over.id, { set: { more: 1 }, unset: [] })).rejects.toMatchObject({ name: 'SessionRefusedError' });
    await store.update(over.id, { set: { big: 'x'.repeat(2500) }, unset: [] });
    await store.update(over.id, { set: { more: 1 }, unset: ['big'] });
    expect((await store.live(over.id))!.state).toEqual({ more: 1 });
  });

  it('checks max_state_bytes on the merged state: writes running at once cannot pass it together', async () => {
    const s = await store.create(session('state'));
    // Each adds a key of about 210 bytes: whatever the order, four fit in 1024 bytes and a fifth does not.
    const writes = Array.from({ length: 10 }, (_, i) => store.update(s.id, { set: { [`k${i}`]: 'x'.repeat(200) }, unset: [] }));
    const outcomes = await Promise.allSettled(writes);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(4);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ name: 'SessionRefusedError' });
    expect(Object.keys((await store.live(s.id))!.state)).toHaveLength(4);
  });
});

describe('the memory store shares negotiated values only while a session uses them', () => {
  it('holds one entry per distinct value in use, and none once the sessions are gone', async () => {
    let now = 0;
    const store = new MemorySessionStore({ ttlMs: HOUR, idleTimeoutMs: HOUR }, () => now);
    const created = [];
    for (let i = 0; i < 50; i++) created.push(await store.create(session('', sized(10_000, `client-${i}:`))));
    // Two more sessions of a client seen before share its entry.
    const again = [
      await store.create(session('', sized(10_000, 'client-0:'))),
      await store.create(session('', sized(10_000, 'client-1:'))),
    ];
    expect(store.sharedSize).toBe(50);

    for (const s of created) expect(await store.remove(s.id, '')).toBe('ok');
    // The two left still hold theirs.
    expect(store.sharedSize).toBe(2);
    expect((await store.open(again[0]!.id, '')).status).toBe('ok');
    for (const s of again) await store.remove(s.id, '');
    expect(store.sharedSize).toBe(0);

    // Sessions that end by time release theirs too: swept by cleanup, or found dead when opened.
    const swept = [];
    for (let i = 0; i < 20; i++) swept.push(await store.create(session('', sized(1_000, `late-${i}:`))));
    expect(store.sharedSize).toBe(20);
    now += 2 * HOUR;
    expect((await store.open(swept[0]!.id, '')).status).toBe('not_found');
    expect(store.sharedSize).toBe(19);
    expect((await store.cleanup()).removed).toBe(19);
    expect(store.sharedSize).toBe(0);
    expect(store.size).toBe(0);
  });
});

/**
 * Makes a session the least recently active of its group. The memory store needs nothing: its
 * sessions in these tests were just created, and of equally active ones the oldest goes first.
 */
async function makeOldest(storeName: 'memory' | 'database', id: string): Promise<void> {
  if (storeName === 'database')
    await admin.query(`update baton.sessions set last_active_at = now() - interval '1 minute' where id = $1`, [id]);
}

/** Stores what it is asked to in session state, after streaming a log message when asked. */
const hoarder: Toolset = {
  name: 'state_hoard',
  description: 'test',
  tools: [
    defineTool({
      name: 'hoard',
      description: 'Keeps `bytes` bytes in the session state.',
      input: { bytes: z.number().int(), stream: z.boolean().optional() },
      async handler({ bytes, stream }, ctx) {
        if (stream) await ctx.log('info', 'working');
        ctx.session?.set('hoard.data', 'x'.repeat(bytes));
        return text('kept');
      },
    }),
  ],
};

describe.each(['memory', 'database'] as const)('through the HTTP app, %s store', (storeName) => {
  const KEY_A = 'limits-key-a-0123456789abcdef';
  const KEY_B = 'limits-key-b-0123456789abcdef';
  let platform: Platform;
  const statements = () => (platform.store instanceof DatabaseSessionStore ? platform.store.database.statements.count : 0);
  const stored = async () =>
    platform.store instanceof MemorySessionStore
      ? platform.store.size
      : Number((await admin.query('select count(*) as n from baton.sessions')).rows[0].n);
  const storedState = async (id: string) => (await platform.store.live(id))?.state;

  beforeAll(async () => {
    if (storeName === 'database') await admin.query('drop schema if exists baton cascade; drop schema if exists drizzle cascade');
    const config = parseConfig(
      {
        toolsets: ['conformance'],
        auth: { api_keys: [KEY_A, KEY_B] },
        sessions: { store: storeName, max_per_credential: 2, max_subscriptions: 3, max_state_bytes: 2048 },
        ...(storeName === 'database' && { database: { driver: 'pg', dsn: db.url } }),
      },
      {},
    );
    // Long enough that an answer ready at once is always sent whole, whatever the machine's load.
    platform = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase, toolsets: [hoarder], answerHoldMs: 60_000 });
    await platform.store.ready?.();
  });
  afterAll(() => platform?.close());

  const client = (key?: string) => new RawSession((r) => platform.app.fetch(r), 'http://127.0.0.1/mcp', key ? { 'x-api-key': key } : {});

  it('answers an initialize over the default max_initialize_bytes (64 KiB) 413 with -32602, before the store', async () => {
    const before = [statements(), await stored()];
    const big = client(KEY_A);
    const response = await big.initialize(sized(100_000));
    expect(response.status).toBe(413);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    const [body] = await readMessages(response);
    expect(body).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32602, message: expect.stringContaining('sessions.max_initialize_bytes') },
    });
    expect([statements(), await stored()]).toEqual(before);
  });

  it('serves a credential at max_per_credential: its least recently active session ends (404), in the one statement of an initialize', async () => {
    const held = [client(KEY_A), client(KEY_A)];
    for (const s of held) expect((await s.initialize()).status).toBe(200);
    await makeOldest(storeName, held[0]!.id);
    const counted = statements();
    const newcomer = client(KEY_A);
    expect((await newcomer.initialize()).status).toBe(200);
    if (storeName === 'database') expect(statements() - counted).toBe(1);
    const evicted = await held[0]!.request('tools/list');
    expect(evicted.status).toBe(404);
    expect(evicted.messages[0]).toMatchObject({ error: { code: -32001 } });
    expect((await held[1]!.request('tools/list')).status).toBe(200);
    expect((await newcomer.request('tools/list')).status).toBe(200);
    // Another credential has places of its own.
    expect((await client(KEY_B).initialize()).status).toBe(200);
    expect((await held[1]!.request('tools/list')).status).toBe(200);
    // The evicted client starts over, and is served.
    expect((await held[0]!.initialize()).status).toBe(200);
    expect((await held[0]!.request('tools/list')).status).toBe(200);
  });

  it('does not let one anonymous client that fills the cap and walks away lock out the next', async () => {
    const walkedAway = [client(), client()];
    for (const s of walkedAway) expect((await s.initialize()).status).toBe(200);
    await makeOldest(storeName, walkedAway[0]!.id);
    const next = client();
    expect((await next.initialize()).status).toBe(200);
    expect((await next.request('tools/list')).status).toBe(200);
    expect((await walkedAway[0]!.request('tools/list')).status).toBe(404);
  });

  it('refuses resources/subscribe to a URI no resource or template matches, with -32602, storing nothing', async () => {
    const s = client(KEY_B);
    await s.initialize();
    const before = statements();
    const refused = await s.request('resources/subscribe', { uri: 'test://made-up/1' });
    expect(refused.status).toBe(200);
    expect(refused.messages[0]).toMatchObject({
      error: { code: -32602, message: expect.stringMatching(/test:\/\/made-up\/1.*no resource or resource template/) },
    });
    // Loading the session was the only statement: nothing was written or announced.
    if (storeName === 'database') expect(statements() - before).toBe(1);
    // A URI of 3 MB is refused alike, and the message does not carry it back.
    const huge = await s.request('resources/subscribe', { uri: `test://made-up/${'x'.repeat(3_000_000)}` });
    expect(huge.messages[0].error.code).toBe(-32602);
    expect(huge.messages[0].error.message.length).toBeLessThan(500);
    expect(await storedState(s.id)).toEqual({});
  });

  it('keeps at most max_subscriptions subscriptions per session', async () => {
    const s = client(KEY_B);
    await s.initialize();
    const uris = ['test://watched-resource', 'test://template/1/data', 'test://template/2/data'];
    for (const uri of uris) expect((await s.request('resources/subscribe', { uri })).messages[0]).toMatchObject({ result: {} });
    const refused = await s.request('resources/subscribe', { uri: 'test://template/3/data' });
    expect(refused.messages[0]).toMatchObject({ error: { code: -32602, message: expect.stringContaining('sessions.max_subscriptions') } });
    // Subscribing again to what it has is no new subscription; an unsubscribe makes room.
    expect((await s.request('resources/subscribe', { uri: uris[0] })).messages[0]).toMatchObject({ result: {} });
    await s.request('resources/unsubscribe', { uri: uris[1] });
    expect((await s.request('resources/subscribe', { uri: 'test://template/3/data' })).messages[0]).toMatchObject({ result: {} });
    expect(Object.keys((await storedState(s.id))!).sort()).toEqual(
      ['mcp.sub:test://template/2/data', 'mcp.sub:test://template/3/data', 'mcp.sub:test://watched-resource'].sort(),
    );
  });

  it('answers a request whose state would pass max_state_bytes with a JSON-RPC error, storing nothing', async () => {
    const s = client(KEY_B);
    await s.initialize();
    const kept = await s.callTool('hoard', { bytes: 100 });
    expect(kept.result).toMatchObject({ content: [{ type: 'text', text: 'kept' }] });
    const tooLarge = { code: -32000, message: expect.stringContaining('sessions.max_state_bytes') };

    const refused = await s.callTool('hoard', { bytes: 3000 });
    expect(refused.status).toBe(200);
    expect(refused.error).toMatchObject(tooLarge);
    // Also once the answer's stream went out (a log message came first): the stream ends with the error.
    const streamed = await s.callTool('hoard', { bytes: 3000, stream: true });
    expect(streamed.messages[0]).toMatchObject({ method: 'notifications/message' });
    expect(streamed.error).toMatchObject(tooLarge);
    // A long URI that a template matches: the subscription is not kept either.
    const long = await s.request('resources/subscribe', { uri: `test://template/${'y'.repeat(3000)}/data` });
    expect(long.messages[0]).toMatchObject({ error: tooLarge });

    expect(await storedState(s.id)).toEqual({ 'hoard.data': 'x'.repeat(100) });
    expect((await s.request('tools/list')).status).toBe(200);
  });
});

describe.each(['memory', 'database'] as const)('credentials nobody checks (no API keys, no JWT), %s store', (storeName) => {
  let platform: Platform;
  beforeAll(async () => {
    if (storeName === 'database') await admin.query('drop schema if exists baton cascade; drop schema if exists drizzle cascade');
    const config = parseConfig(
      {
        toolsets: ['conformance'],
        sessions: { store: storeName, max_per_credential: 3 },
        ...(storeName === 'database' && { database: { driver: 'pg', dsn: db.url } }),
      },
      {},
    );
    platform = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    await platform.store.ready?.();
  });
  afterAll(() => platform?.close());

  it('count together: a caller cannot pass the cap by making up a new token for each session', async () => {
    const withToken = (token: string) =>
      new RawSession((r) => platform.app.fetch(r), 'http://127.0.0.1/mcp', { authorization: `Bearer ${token}` });
    const held = [withToken('made-up-0'), withToken('made-up-1'), withToken('made-up-2')];
    for (const s of held) expect((await s.initialize()).status).toBe(200);
    await makeOldest(storeName, held[0]!.id);
    const fourth = withToken('made-up-3');
    expect((await fourth.initialize()).status).toBe(200);
    expect((await held[0]!.request('tools/list')).status).toBe(404);
    for (const s of [...held.slice(1), fourth]) expect((await s.request('tools/list')).status).toBe(200);
    // Callers without any credential count apart, as everywhere: they end none of those.
    expect((await new RawSession((r) => platform.app.fetch(r)).initialize()).status).toBe(200);
    for (const s of [...held.slice(1), fourth]) expect((await s.request('tools/list')).status).toBe(200);
  });

  it('count against every live session, anonymous ones included, the same in both stores', async () => {
    const fresh = await createPlatform(
      parseConfig(
        {
          toolsets: ['conformance'],
          sessions: { store: storeName, max_per_credential: 2 },
          ...(storeName === 'database' && { database: { driver: 'pg', dsn: db.url } }),
        },
        {},
      ),
      { logger: quiet, openDatabase: openNodeDatabase },
    );
    try {
      // Clear what the previous test left (the database store counts every row).
      if (storeName === 'database') await admin.query('delete from baton.sessions');
      const anonymous = [new RawSession((r) => fresh.app.fetch(r)), new RawSession((r) => fresh.app.fetch(r))];
      for (const s of anonymous) expect((await s.initialize()).status).toBe(200);
      await makeOldest(storeName, anonymous[0]!.id);
      const withToken = new RawSession((r) => fresh.app.fetch(r), 'http://127.0.0.1/mcp', { authorization: 'Bearer made-up' });
      expect((await withToken.initialize()).status).toBe(200);
      expect((await anonymous[0]!.request('tools/list')).status).toBe(404);
      expect((await anonymous[1]!.request('tools/list')).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });
});
