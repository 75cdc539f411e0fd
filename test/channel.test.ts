// Instances talk through the store (src/store/channel/). First the channel itself on every delivery
// (in process, pg NOTIFY, neon-http polling, pglite): order, `since`, reading after a position,
// payloads too large for NOTIFY, retention. Then two platforms in one process over one database,
// sharing nothing else, as two instances: the client's replies to elicitation and sampling, its
// cancels and its DELETE reach the work running on the other platform, and a reply nothing waits
// for is dropped and logged. Everything waits for events, never for time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { InProcessChannel } from '../src/store/channel/in-process.js';
import { comparePositions, type Channel, type Message } from '../src/store/channel/types.js';
import { sessionTopic } from '../src/store/channel/topics.js';
import { createTestDatabase } from './helpers/db.js';
import { driverDatabases } from './helpers/drivers.js';
import { deferred, Gate, holdNextOpen } from './helpers/gate.js';
import { answeringClient, RawSession } from './helpers/mcp.js';
import { SseReader } from './helpers/sse.js';
import { waitFor } from './helpers/wait.js';

const quiet = createLogger('error');
const LIMITS = { ttlMs: 3_600_000, idleTimeoutMs: 3_600_000 };

const { made, setups: pairs } = driverDatabases('baton_channel');
const pgliteDir = mkdtempSync(join(tmpdir(), 'baton-channel-pglite-'));
const gate = new Gate();
let removeGate: () => void;

beforeAll(async () => {
  removeGate = gate.register('gate');
});

afterAll(async () => {
  removeGate?.();
  rmSync(pgliteDir, { recursive: true, force: true });
});

/** Messages a subscription received, and a way to wait until it has `count` of them. */
function collector() {
  const received: Message[] = [];
  let waiting: { count: number; done: () => void }[] = [];
  return {
    received,
    listener: (message: Message) => {
      received.push(message);
      for (const w of waiting.filter((w) => received.length >= w.count)) w.done();
      waiting = waiting.filter((w) => received.length < w.count);
    },
    until(count: number): Promise<void> {
      if (received.length >= count) return Promise.resolve();
      const d = deferred();
      waiting.push({ count, done: () => d.resolve(undefined) });
      return d.promise;
    },
  };
}

type ChannelSetup = { name: string; open: () => Promise<{ channel: Channel; close: () => Promise<void>; clock: () => Promise<number> }> };

const databaseChannel = (database: () => Record<string, unknown>) => async () => {
  const config = parseConfig({ sessions: { store: 'database' }, database: database() }, {});
  const store = new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, { pollIntervalMs: 20, logger: quiet });
  await store.ready();
  return {
    channel: store.channel,
    close: () => store.close(),
    // The store's clock, as a request's open gives it.
    clock: async () => {
      const id = `clock-${Math.random().toString(36).slice(2)}`;
      await store.create({
        id,
        credentialHash: '',
        protocolVersion: '2025-11-25',
        clientCapabilities: {},
        clientInfo: { name: 'c', version: '1' },
        state: {},
      });
      const opened = await store.open(id, '');
      if (opened.status !== 'ok') throw new Error('no session');
      return opened.at;
    },
  };
};

const channels: ChannelSetup[] = [
  {
    name: 'in process (memory store)',
    open: async () => {
      const channel = new InProcessChannel(60_000);
      return { channel, close: () => channel.close(), clock: async () => channel.clock() };
    },
  },
  { name: 'pg (NOTIFY)', open: databaseChannel(() => ({ driver: 'pg', dsn: made.pgDb.url })) },
  {
    name: 'neon-http (polling)',
    open: databaseChannel(() => ({
      driver: 'neon-http',
      dsn: made.endpoint.connectionString(made.neonDb.name),
      http_endpoint: made.endpoint.fetchEndpoint,
    })),
  },
  { name: 'pglite (in process, kept in the table)', open: databaseChannel(() => ({ driver: 'pglite', pglite_dir: pgliteDir })) },
];

describe.each(channels)('the channel: $name', (setup) => {
  it('delivers each message once, in publishing order, from `since` on, to subscribers of its topic only', async () => {
    const { channel, close, clock } = await setup.open();
    try {
      const topic = `t-${Math.random()}`;
      await channel.publish(topic, { n: 'before' });
      const since = await clock();
      const a = collector();
      const other = collector();
      const subscription = channel.subscribe(topic, a.listener, { since });
      channel.subscribe(`${topic}-other`, other.listener, { since });
      for (let n = 1; n <= 5; n++) await channel.publish(topic, { n });
      await a.until(5);
      subscription.unsubscribe();
      await channel.publish(topic, { n: 'after unsubscribing' });
      await channel.publish(`${topic}-other`, { n: 'other' });
      await other.until(1);
      expect(a.received.map((m) => m.payload)).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })));
      expect(other.received.map((m) => m.payload)).toEqual([{ n: 'other' }]);
      // Positions grow with publishing order. Two stored messages may carry the same `at`
      // (clock_timestamp() need not move between two quick statements); the id orders them then.
      const positions = a.received.map((m) => m.position);
      for (let i = 1; i < positions.length; i++) expect(comparePositions(positions[i]!, positions[i - 1]!)).toBeGreaterThan(0);
    } finally {
      await close();
    }
  });

  it('reads what a topic kept after a position: what a resumed stream missed', async () => {
    const { channel, close } = await setup.open();
    try {
      const topic = `r-${Math.random()}`;
      const first = await channel.publish(topic, { n: 1 });
      await channel.publish(topic, { n: 2 });
      await channel.publish(topic, { n: 3 });
      await channel.publish(`${topic}-x`, { n: 'x' });
      const after = await channel.read(new Map([[topic, first]]));
      expect(after.map((m) => m.payload)).toEqual([{ n: 2 }, { n: 3 }]);
      expect(await channel.read(new Map([[topic, after.at(-1)!.position]]))).toEqual([]);
    } finally {
      await close();
    }
  });

  it('carries payloads larger than NOTIFY allows', async () => {
    const { channel, close, clock } = await setup.open();
    try {
      const topic = `big-${Math.random()}`;
      const big = { text: 'x'.repeat(20_000) };
      const c = collector();
      channel.subscribe(topic, c.listener, { since: await clock() });
      await channel.publish(topic, big);
      await channel.publish(topic, { small: true });
      await c.until(2);
      expect(c.received.map((m) => m.payload)).toEqual([big, { small: true }]);
    } finally {
      await close();
    }
  });
});

describe('pg: the listening connection is lost', () => {
  it('listens again and delivers what was published meanwhile, once', async () => {
    const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: made.pgDb.url } }, {});
    const open = async (listen: boolean) => {
      const store = new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, { listen, logger: quiet });
      await store.ready();
      return store;
    };
    const [receiver, sender] = [await open(true), await open(false)];
    const admin = new pg.Client({ connectionString: made.pgDb.url });
    await admin.connect();
    try {
      const topic = `lost-${Math.random()}`;
      const first = await sender.channel.publish(topic, { n: 0 });
      const c = collector();
      receiver.channel.subscribe(topic, c.listener, { since: first.at + 1 });
      await sender.channel.publish(topic, { n: 1 });
      await c.until(1);
      // A real fault: the server ends the listening connection (as a restart or a proxy would).
      const { rowCount } = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'baton-listen' and datname = current_database()`,
      );
      expect(rowCount).toBeGreaterThanOrEqual(1);
      // Published while the receiver has no connection listening, or as it comes back.
      await sender.channel.publish(topic, { n: 2 });
      await sender.channel.publish(topic, { n: 3 });
      await c.until(3);
      await sender.channel.publish(topic, { n: 4 });
      await c.until(4);
      expect(c.received.map((m) => m.payload)).toEqual([1, 2, 3, 4].map((n) => ({ n })));
    } finally {
      await admin.end();
      await receiver.close();
      await sender.close();
    }
  });
});

describe('pg: the listening connection cannot be opened at start', () => {
  it('the store is ready anyway and serves; it listens once it can, and catches up', async () => {
    // A real refusal: a role allowed one connection, which the store's pool holds after its
    // migration check, so the listening connection is refused ("too many connections for role").
    // The database is migrated beforehand, so that the check is the role's one statement.
    const role = `baton_limited_${Math.random().toString(36).slice(2, 10)}`;
    const limited = await createTestDatabase('baton_listen_later');
    const admin = new pg.Client({ connectionString: limited.url });
    await admin.connect();
    const lines: { level: string; msg: string; error?: string }[] = [];
    const logger = createLogger('info', (line) => lines.push(JSON.parse(line)));
    const open = async (dsn: string, options: ConstructorParameters<typeof DatabaseSessionStore>[2]) => {
      const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn } }, {});
      return new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, options);
    };
    let receiver: DatabaseSessionStore | undefined;
    let sender: DatabaseSessionStore | undefined;
    try {
      sender = await open(limited.url, { listen: false, logger: quiet });
      await sender.ready();
      await admin.query(`create role ${role} login connection limit 1`);
      await admin.query(`grant usage on schema baton, drizzle to ${role}`);
      await admin.query(`grant all on all tables in schema baton, drizzle to ${role}`);
      await admin.query(`grant all on all sequences in schema baton to ${role}`);
      const asRole = new URL(limited.url);
      asRole.username = role;
      receiver = await open(asRole.toString(), { relistenDelayMs: 50, logger });
      await receiver.ready();
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          msg: 'channel: cannot listen yet; retrying in the background, and reading messages by polling meanwhile',
          error: expect.stringMatching(/too many connections/),
        }),
      );
      // Not listening does not stop it from serving.
      await receiver.create({
        id: 'served-without-listening',
        credentialHash: '',
        protocolVersion: '2025-11-25',
        clientCapabilities: {},
        clientInfo: { name: 'c', version: '1' },
        state: {},
      });
      expect((await receiver.open('served-without-listening', '')).status).toBe('ok');

      const topic = `later-${Math.random()}`;
      const first = await sender.channel.publish(topic, { n: 0 });
      const c = collector();
      receiver.channel.subscribe(topic, c.listener, { since: first.at + 1 });
      await sender.channel.publish(topic, { n: 1 });
      // Delivered while it cannot listen: the subscription reads the table meanwhile.
      await c.until(1);
      expect(lines.map((l) => l.msg)).not.toContain('channel: listening again');
      // The database lets the role have its listening connection now.
      await admin.query(`alter role ${role} connection limit -1`);
      await waitFor(() => lines.some((l) => l.msg === 'channel: listening again'), { what: 'the log line "channel: listening again"' });
      await sender.channel.publish(topic, { n: 2 });
      await c.until(2);
      expect(c.received.map((m) => m.payload)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(lines.map((l) => l.msg)).toContain('channel: listening again');
    } finally {
      await receiver?.close();
      await sender?.close();
      await admin.end();
      await limited.drop();
      const server = new pg.Client({ connectionString: made.pgDb.url });
      await server.connect();
      await server.query(`drop role if exists ${role}`);
      await server.end();
    }
  });
});

describe('pg: the channel closes while it waits to listen again', () => {
  it('ends the wait: no attempt follows, and no timer outlives close()', async () => {
    const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: made.pgDb.url } }, {});
    const lines: { msg: string }[] = [];
    const logger = createLogger('info', (line) => lines.push(JSON.parse(line)));
    // The first wait is an hour: close() waits for the reconnecting to give up, so it returns
    // only if closing ends that wait (else this test runs into its timeout).
    const store = new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, { relistenDelayMs: 3_600_000, logger });
    await store.ready();
    const admin = new pg.Client({ connectionString: made.pgDb.url });
    await admin.connect();
    try {
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'baton-listen' and datname = current_database()`,
      );
      await waitFor(() => lines.some((l) => l.msg.startsWith('channel: the listening connection was lost; reconnecting')), {
        what: 'the log line saying the listening connection was lost',
      });
    } finally {
      await admin.end();
    }
    await store.close();
    expect(lines.map((l) => l.msg).filter((msg) => msg.startsWith('channel:'))).toEqual([
      'channel: the listening connection was lost; reconnecting, and reading messages by polling meanwhile',
    ]);
  });
});

describe('retention', () => {
  it('the in-process channel forgets messages older than the retention', async () => {
    let now = 1_000_000;
    const channel = new InProcessChannel(60_000, () => now);
    const first = await channel.publish('t', { n: 1 });
    now += 30_000;
    await channel.publish('t', { n: 2 });
    now += 45_000;
    expect(channel.sweep()).toBe(1);
    expect((await channel.read(new Map([['t', { at: 0, id: 0 }]]))).map((m) => m.payload)).toEqual([{ n: 2 }]);
    expect(first.at).toBeLessThan(now * 1000);
  });

  it('the store cleanup removes channel messages older than the retention (pg)', async () => {
    const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: made.pgDb.url } }, {});
    // No retention at all: everything published before the cleanup statement is past it.
    const store = new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, { retentionMs: 0, listen: false, logger: quiet });
    try {
      await store.ready();
      const topic = `sweep-${Math.random()}`;
      const first = await store.channel.publish(topic, { n: 1 });
      await store.channel.publish(topic, { n: 2 });
      const report = await store.cleanup();
      expect(report.messagesRemoved).toBeGreaterThanOrEqual(2);
      expect(await store.channel.read(new Map([[topic, { at: first.at - 1, id: 0 }]]))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe.each(pairs)('two platforms in one process over $name, sharing only the database', (setup) => {
  let a: Platform;
  let b: Platform;
  const logs: { level: string; msg: string; [key: string]: unknown }[] = [];
  let logWaiters: { msg: string; done: () => void }[] = [];
  /** Resolves when a log line with this message has been written (since the last reset of `logs`). */
  const logged = (msg: string): Promise<void> => {
    if (logs.some((l) => l.msg === msg)) return Promise.resolve();
    const d = deferred();
    logWaiters.push({ msg, done: () => d.resolve(undefined) });
    return d.promise;
  };

  beforeAll(async () => {
    const config = parseConfig(
      {
        sessions: { store: 'database' },
        database: setup.database(),
        toolsets: ['conformance', 'gate'],
        channel: { poll_interval: '50ms' },
      },
      {},
    );
    const logger = createLogger('info', (line) => {
      const entry = JSON.parse(line);
      logs.push(entry);
      for (const w of logWaiters.filter((w) => w.msg === entry.msg)) w.done();
      logWaiters = logWaiters.filter((w) => w.msg !== entry.msg);
    });
    [a, b] = [
      await createPlatform(config, { logger, openDatabase: openNodeDatabase }),
      await createPlatform(config, { logger, openDatabase: openNodeDatabase }),
    ];
    await Promise.all([a.store.ready?.(), b.store.ready?.()]);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('20 elicitation and 20 sampling calls from the SDK client succeed when every reply goes to the other platform', async () => {
    expect(a.instance.id).not.toBe(b.instance.id);
    const landed: string[] = [];
    // Everything goes to platform a, except the client's replies, which all go to b.
    const fetch = async (url: string | URL, init?: RequestInit) => {
      const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
      const reply = body && !Array.isArray(body) && ('result' in body || 'error' in body);
      landed.push(reply ? 'reply->b' : `${init?.method ?? 'GET'}->a`);
      return (reply ? b : a).app.fetch(new Request(url, init));
    };
    const client = answeringClient('two-platforms');
    await client.connect(new StreamableHTTPClientTransport(new URL('http://127.0.0.1/mcp'), { fetch }));
    try {
      for (let i = 0; i < 20; i++) {
        const elicited = await client.callTool({ name: 'test_elicitation', arguments: { message: `question ${i}` } });
        expect(elicited.isError).toBeFalsy();
        expect((elicited.content as { text: string }[])[0]!.text).toContain(`user for question ${i}`);
        const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: `prompt ${i}` } });
        expect(sampled.isError).toBeFalsy();
        expect((sampled.content as { text: string }[])[0]!.text).toBe(`LLM response: sampled: prompt ${i}`);
      }
    } finally {
      await client.close();
    }
    expect(landed.filter((l) => l === 'reply->b')).toHaveLength(40);
  }, 120_000);

  it('a cancel posted to the other platform stops the tool', async () => {
    const onA = new RawSession((r) => a.app.fetch(r));
    await onA.initialize();
    const onB = new RawSession((r) => b.app.fetch(r));
    onB.id = onA.id;
    gate.reset();
    const running = onA.send('POST', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'wait_at_gate', arguments: {} } });
    await gate.arrived(1);
    expect((await onB.notify('notifications/cancelled', { requestId: 5, reason: 'from the other instance' })).status).toBe(202);
    await gate.left(1);
    expect(gate.exits).toEqual(['aborted']);
    // The request's stream ends without an answer, as after a local cancel.
    const events = await new SseReader(await running).rest();
    expect(events.filter((e) => e.message)).toEqual([]);
    expect(a.instance.unfinishedRequests).toBe(0);
  });

  it('a cancel that comes before its request reaches its server (here: while the session is opened) still stops it', async () => {
    const onA = new RawSession((r) => a.app.fetch(r));
    await onA.initialize();
    const onB = new RawSession((r) => b.app.fetch(r));
    onB.id = onA.id;
    gate.reset();
    // A's next open of the session waits, after the store answered, until the test lets it go.
    const held = holdNextOpen(a.store);
    try {
      const running = onA.send('POST', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'wait_at_gate', arguments: {} } });
      await held.opened;
      // The cancel is published and A's channel has delivered it (to every subscriber of the
      // session's topic there) before the call goes on to its server.
      const heard = collector();
      const watching = a.store.channel.subscribe(sessionTopic(onA.id), heard.listener);
      expect((await onB.notify('notifications/cancelled', { requestId: 5, reason: 'early' })).status).toBe(202);
      await heard.until(1);
      watching.unsubscribe();
      held.resume();
      // The request's stream ends without an answer, as after any cancel.
      const events = await new SseReader(await running).rest();
      expect(events.filter((e) => e.message)).toEqual([]);
      expect(gate.exits).not.toContain('passed');
      expect(a.instance.unfinishedRequests).toBe(0);
    } finally {
      held.restore();
      gate.open();
    }
  });

  it('DELETE on the other platform ends the work the session runs', async () => {
    const onA = new RawSession((r) => a.app.fetch(r));
    await onA.initialize();
    const onB = new RawSession((r) => b.app.fetch(r));
    onB.id = onA.id;
    gate.reset();
    const running = onA.callTool('wait_at_gate');
    await gate.arrived(1);
    expect((await onB.delete()).status).toBe(200);
    await gate.left(1);
    expect(gate.exits).toEqual(['aborted']);
    expect((await running).result).toBeUndefined();
    expect((await onA.callTool('test_simple_text')).status).toBe(404);
  });

  it('a session ended on the other platform (DELETE, revoke) lets go of the servers pooled for it here', async () => {
    const pooledOnA = async () => {
      const session = new RawSession((r) => a.app.fetch(r));
      await session.initialize();
      expect((await session.callTool('test_simple_text')).status).toBe(200);
      // The server goes back to the pool once its exchange is over, just after the answer.
      await waitFor(() => a.instance.pools(session.id), { what: 'the session to be pooled on a' });
      return session;
    };
    const [deleted, revoked, kept] = [await pooledOnA(), await pooledOnA(), await pooledOnA()];
    // A polling instance reads the table only while it waits for something (the pool's watch
    // rides along, it reads nothing of its own): here a GET stream.
    const stream = setup.name === 'neon-http' ? new SseReader(await kept.send('GET', undefined)) : undefined;
    try {
      const onB = new RawSession((r) => b.app.fetch(r));
      onB.id = deleted.id;
      expect((await onB.delete()).status).toBe(200);
      await waitFor(() => !a.instance.pools(deleted.id), { what: "the deleted session to leave a's pool" });
      expect(await (b.store as DatabaseSessionStore).revoke(revoked.id)).toBe(true);
      await waitFor(() => !a.instance.pools(revoked.id), { what: "the revoked session to leave a's pool" });
      expect(a.instance.pools(kept.id)).toBe(true);
    } finally {
      await stream?.cancel();
    }
  });

  it('a reply for a request that already finished is dropped and logged where the request ran', async () => {
    const onA = new RawSession((r) => a.app.fetch(r));
    await onA.initialize({ elicitation: {} });
    const onB = new RawSession((r) => b.app.fetch(r));
    onB.id = onA.id;
    const stream = new SseReader(
      await onA.send('POST', {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'test_elicitation', arguments: { message: 'once' } },
      }),
    );
    const [asked] = (await stream.until((e) => e.message?.method === 'elicitation/create')).slice(-1);
    const reply = {
      jsonrpc: '2.0',
      id: asked!.message.id,
      result: { action: 'accept', content: { username: 'u', email: 'e@example.com' } },
    };
    expect((await onB.send('POST', reply)).status).toBe(202);
    const answered = await stream.rest();
    expect(answered.at(-1)!.message.result.content[0].text).toContain('action=accept');

    logs.length = 0;
    const counter = (p: Platform) => (p.store as DatabaseSessionStore).database.statements;
    const before = counter(b).count;
    // The same reply again, to the other platform: nothing waits for it any more.
    expect((await onB.send('POST', reply)).status).toBe(202);
    const spent = counter(b).count - before;
    // The session's open and the forward. A polling instance also reads the session's topic
    // once per poll_interval while a request of the session runs there, so on neon-http the
    // count depends on how long the request took; on pg it is exact.
    if (setup.name === 'pg') expect(spent).toBe(2);
    // pg delivers it at once. A polling channel reads the instance's topic for nothing but its
    // own waits (late replies cost nothing while it waits for nothing): the reply is seen at the
    // next read the instance makes, here for a call that runs on it.
    let waiting: Promise<unknown> | undefined;
    if (setup.name === 'neon-http') {
      gate.reset();
      waiting = onA.callTool('wait_at_gate');
    }
    await logged('reply dropped');
    gate.open();
    await waiting;
    expect(logs.filter((l) => l.msg === 'reply dropped')).toEqual([
      expect.objectContaining({ level: 'info', session: onA.id.slice(0, 8), why: 'nothing waits for it' }),
    ]);
  });
});
