// Event streams any instance serves and any instance resumes (src/era-2025/streams.ts), on two
// platforms in one process that share only the database (pg: NOTIFY; neon-http: polling):
// announcements published on one reach a GET stream held on the other, only what the session
// subscribed to; a client that reconnects to the other platform with Last-Event-ID gets what it
// missed and nothing twice; a request's stream closed mid-call is finished on the other platform;
// DELETE on one ends the streams held on the other. Every wait is for an event, never for time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { SessionStreams } from '../src/era-2025/streams.js';
import { CHANGES_TOPIC, type ChangeEvent, type Message } from '../src/store/channel/types.js';
import { sessionTopic } from '../src/store/channel/topics.js';
import { deferred, holdNextOpen } from './helpers/gate.js';
import { driverDatabases } from './helpers/drivers.js';
import { RawSession } from './helpers/mcp.js';
import { SseReader } from './helpers/sse.js';
import { waitFor } from './helpers/wait.js';

const quiet = createLogger('error');

const { made, setups } = driverDatabases('baton_streams');

describe.each(setups)('event streams on two platforms in one process over $name', (setup) => {
  let a: Platform;
  let b: Platform;

  beforeAll(async () => {
    const config = parseConfig(
      { sessions: { store: 'database' }, database: setup.database(), toolsets: ['conformance'], channel: { poll_interval: '50ms' } },
      {},
    );
    [a, b] = [
      await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase }),
      await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase }),
    ];
    await Promise.all([a.store.ready?.(), b.store.ready?.()]);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  const announce = (on: Platform, event: ChangeEvent) => on.store.channel.publish(CHANGES_TOPIC, event);
  const sessionOn = async (p: Platform) => {
    const s = new RawSession((r) => p.app.fetch(r));
    await s.initialize();
    return s;
  };
  const same = (p: Platform, s: RawSession) => {
    const other = new RawSession((r) => p.app.fetch(r));
    other.id = s.id;
    return other;
  };
  const listen = async (s: RawSession, lastEventId?: string) => {
    const response = await s.send('GET', undefined, lastEventId ? { 'last-event-id': lastEventId } : {});
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    return new SseReader(response);
  };
  const nextMessage = async (reader: SseReader) => (await reader.until((e) => e.message !== undefined)).at(-1)!;

  it('announcements published on the other platform reach the GET stream, resource updates only when subscribed', async () => {
    const onA = await sessionOn(a);
    const onB = same(b, onA);
    await onB.request('resources/subscribe', { uri: 'test://watched-resource' });
    const stream = await listen(onA);
    const primed = await stream.next();
    expect(primed).toMatchObject({ data: '', retry: 1000 });
    expect(primed!.id).toMatch(/^g\./);

    await announce(b, { kind: 'resource_updated', uri: 'test://not-subscribed' });
    await announce(b, { kind: 'resource_updated', uri: 'test://watched-resource' });
    await announce(b, { kind: 'tools_list_changed' });
    expect((await nextMessage(stream)).message).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/resources/updated',
      params: { uri: 'test://watched-resource' },
    });
    expect((await nextMessage(stream)).message).toEqual({ jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: {} });

    // A subscription made after the stream opened (on the other platform) counts too.
    await onB.request('resources/subscribe', { uri: 'test://static-text' });
    await announce(b, { kind: 'resource_updated', uri: 'test://static-text' });
    expect((await nextMessage(stream)).message.params).toEqual({ uri: 'test://static-text' });
    await stream.cancel();
  });

  it('a change announced while the GET stream is being opened (after the store answered, before it listens) still reaches it', async () => {
    const onA = await sessionOn(a);
    // A's next open of the session waits, after the store answered, until the test lets it go.
    const held = holdNextOpen(a.store);
    try {
      const listening = listen(onA);
      await held.opened;
      // Announced on B, and delivered by A's channel (to whatever listens there) before A's stream opens.
      const heard: Message[] = [];
      const watching = a.store.channel.subscribe(CHANGES_TOPIC, (message) => heard.push(message));
      await announce(b, { kind: 'prompts_list_changed', params: { n: 'in the gap' } });
      const inTheGap = (m: Message) => (m.payload as { params?: { n?: unknown } }).params?.n === 'in the gap';
      await waitFor(() => heard.some(inTheGap), { what: 'A to hear the announcement' });
      watching.unsubscribe();
      held.resume();
      const stream = await listening;
      await stream.next(); // priming
      expect((await nextMessage(stream)).message).toEqual({
        jsonrpc: '2.0',
        method: 'notifications/prompts/list_changed',
        params: { n: 'in the gap' },
      });
      await stream.cancel();
    } finally {
      held.restore();
    }
  });

  it('an unsubscribe (on the other platform) stops the resource updates of a GET stream already open', async () => {
    const onA = await sessionOn(a);
    const onB = same(b, onA);
    await onA.request('resources/subscribe', { uri: 'test://watched-resource' });
    const stream = await listen(onA);
    await stream.next(); // priming
    await announce(b, { kind: 'resource_updated', uri: 'test://watched-resource' });
    expect((await nextMessage(stream)).message.params).toEqual({ uri: 'test://watched-resource' });

    expect((await onB.request('resources/unsubscribe', { uri: 'test://watched-resource' })).messages[0].result).toEqual({});
    await announce(b, { kind: 'resource_updated', uri: 'test://watched-resource' });
    // A later announcement marks the point by which the update would have come.
    await announce(b, { kind: 'tools_list_changed' });
    expect((await nextMessage(stream)).message.method).toBe('notifications/tools/list_changed');

    // Subscribed again: updates come again.
    await onB.request('resources/subscribe', { uri: 'test://watched-resource' });
    await announce(a, { kind: 'resource_updated', uri: 'test://watched-resource' });
    expect((await nextMessage(stream)).message.params).toEqual({ uri: 'test://watched-resource' });
    await stream.cancel();
  });

  it('a subscription made just as the stream opens counts: stored after the open read the session, announced before the stream listened', async () => {
    const onA = await sessionOn(a);
    const opened = await a.store.open(onA.id, '');
    if (opened.status !== 'ok') throw new Error('no session');
    // Subscribed on the other platform between the open and the stream; the announcement has
    // reached this platform (a listener of its own hears it) before the stream listens.
    const heard = deferred();
    const probe = a.store.channel.subscribe(
      sessionTopic(onA.id),
      (message) => {
        if ((message.payload as { kind?: string }).kind === 'subscriptions') heard.resolve(undefined);
      },
      { since: opened.at },
    );
    await same(b, onA).request('resources/subscribe', { uri: 'test://watched-resource' });
    await heard.promise;
    probe.unsubscribe();
    const stream = new SseReader(
      a.instance.streams.open(opened.session, opened.at, undefined, a.instance.streams.listen(opened.session.id, undefined)),
    );
    await stream.next(); // priming
    await announce(b, { kind: 'resource_updated', uri: 'test://watched-resource' });
    expect((await nextMessage(stream)).message.params).toEqual({ uri: 'test://watched-resource' });
    await stream.cancel();
  });

  it('a GET stream whose client falls too far behind ends; resumed, it gets the rest, in order, once', async () => {
    const onA = await sessionOn(a);
    const opened = await a.store.open(onA.id, '');
    if (opened.status !== 'ok') throw new Error('no session');
    // A stream of its own, with room for 3 waiting events, whose response nobody reads yet.
    const streams = new SessionStreams(a.store, quiet, { retryMs: 1000, timeoutMs: 0, inboxLimit: 3 });
    const response = streams.open(opened.session, opened.at, undefined, streams.listen(opened.session.id, undefined));
    expect(streams.size).toBe(1);
    for (let n = 1; n <= 8; n++) await announce(b, { kind: 'prompts_list_changed', params: { n } });
    // The fourth waiting event ended it.
    await waitFor(() => streams.size === 0, { what: 'the stream to end when the fourth event waited' });
    const first = await new SseReader(response).rest();
    const last = first.at(-1)!;
    expect(last.id).toMatch(/^g\./);
    const resumed = await listen(same(b, onA), last.id);
    const rest = await resumed.until((e) => e.message?.params?.n === 8);
    await resumed.cancel();
    const seen = [...first, ...rest].filter((e) => e.message).map((e) => e.message.params.n);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a client reconnecting to the other platform with Last-Event-ID gets what it missed, and nothing twice', async () => {
    const onA = await sessionOn(a);
    const first = await listen(onA);
    await first.next(); // priming
    await announce(b, { kind: 'prompts_list_changed', params: { n: 1 } });
    const one = await nextMessage(first);
    expect(one.message.params).toEqual({ n: 1 });
    // The client goes away; meanwhile two more are announced, on either platform.
    await first.cancel();
    await announce(a, { kind: 'prompts_list_changed', params: { n: 2 } });
    await announce(b, { kind: 'prompts_list_changed', params: { n: 3 } });

    const resumed = await listen(same(b, onA), one.id);
    expect((await nextMessage(resumed)).message.params).toEqual({ n: 2 });
    const three = await nextMessage(resumed);
    expect(three.message.params).toEqual({ n: 3 });
    // And it stays live.
    await announce(a, { kind: 'prompts_list_changed', params: { n: 4 } });
    const four = await nextMessage(resumed);
    expect(four.message.params).toEqual({ n: 4 });
    await resumed.cancel();

    // Resuming from the last one sees nothing old again: only what comes next.
    const again = await listen(onA, four.id);
    await announce(b, { kind: 'prompts_list_changed', params: { n: 5 } });
    expect((await nextMessage(again)).message.params).toEqual({ n: 5 });
    await again.cancel();
  });

  it('a request stream closed mid-call is finished on the other platform, after Last-Event-ID', async () => {
    const onA = await sessionOn(a);
    const call = await a.app.fetch(
      new Request('http://127.0.0.1/mcp', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': onA.id,
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name: 'test_reconnection', arguments: {} } }),
      }),
    );
    const events = await new SseReader(call).rest();
    // The priming event names the stream; the stream ends before the answer.
    expect(events).toEqual([expect.objectContaining({ data: '', retry: 1000, id: expect.stringMatching(/^r\./) })]);
    const resumed = await listen(same(b, onA), events[0]!.id);
    const rest = await resumed.rest();
    expect(rest.map((e) => e.message)).toEqual([
      expect.objectContaining({
        id: 41,
        result: expect.objectContaining({
          content: [expect.objectContaining({ text: expect.stringContaining('Reconnection test completed') })],
        }),
      }),
    ]);
    expect(rest[0]!.id).toMatch(/^r\./);
  });

  it('DELETE on one platform ends the GET streams held on the other', async () => {
    const onA = await sessionOn(a);
    const stream = await listen(onA);
    await stream.next();
    expect((await same(b, onA).delete()).status).toBe(200);
    // The stream ends (by itself: nothing else would end it).
    expect(await stream.rest()).toEqual([]);
  });

  it('refuses a Last-Event-ID it never gave out, and a GET that does not accept an event stream', async () => {
    const onA = await sessionOn(a);
    const bad = await onA.send('GET', undefined, { 'last-event-id': 'event-17' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/Last-Event-ID/);
    const notAcceptable = await onA.send('GET', undefined, { accept: 'application/json' });
    expect(notAcceptable.status).toBe(406);
  });
});

describe('what a GET costs (pg)', () => {
  let a: Platform;
  beforeAll(async () => {
    const config = parseConfig(
      { sessions: { store: 'database' }, database: { driver: 'pg', dsn: made.pgDb.url }, toolsets: ['conformance'] },
      {},
    );
    a = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    await a.store.ready?.();
  });
  afterAll(async () => {
    await a?.close();
  });

  it('one statement to open a stream; one more to resume one', async () => {
    const counter = (a.store as DatabaseSessionStore).database.statements;
    const onA = new RawSession((r) => a.app.fetch(r));
    await onA.initialize();
    let before = counter.count;
    const response = await onA.send('GET', undefined);
    const stream = new SseReader(response);
    const primed = await stream.next();
    expect(counter.count - before).toBe(1);
    await stream.cancel();
    before = counter.count;
    const resumed = new SseReader(await onA.send('GET', undefined, { 'last-event-id': primed!.id! }));
    // The kept events are read when the client first reads the stream.
    const published = await a.store.channel.publish(CHANGES_TOPIC, { kind: 'tools_list_changed' });
    expect(published.id).toBeGreaterThan(0);
    const event = (await resumed.until((e) => e.message !== undefined)).at(-1)!;
    expect(event.message.method).toBe('notifications/tools/list_changed');
    // open + read; the publish above is the test's own statement.
    expect(counter.count - before).toBe(3);
    await resumed.cancel();
  });

  it('resource updates cost an open stream one look at the stored subscriptions at most, however many come', async () => {
    const counter = (a.store as DatabaseSessionStore).database.statements;
    const onA = new RawSession((r) => a.app.fetch(r));
    await onA.initialize();
    await onA.request('resources/subscribe', { uri: 'test://watched-resource' });
    const stream = new SseReader(await onA.send('GET', undefined));
    await stream.next(); // priming: the stream has read what was kept
    const before = counter.count;
    for (let n = 0; n < 5; n++) await a.store.channel.publish(CHANGES_TOPIC, { kind: 'resource_updated', uri: `test://other-${n}` });
    await a.store.channel.publish(CHANGES_TOPIC, { kind: 'resource_updated', uri: 'test://watched-resource' });
    await a.store.channel.publish(CHANGES_TOPIC, { kind: 'tools_list_changed' });
    const events = await stream.until((e) => e.message?.method === 'notifications/tools/list_changed');
    expect(events.filter((e) => e.message).map((e) => e.message.params)).toEqual([{ uri: 'test://watched-resource' }, {}]);
    // The test's own 7 publishes, and the stream's one look at the session (the first update for
    // a resource it did not know of), not one per update.
    expect(counter.count - before).toBe(8);
    await stream.cancel();
  });
});

describe('a GET stream ends with its session (pg)', () => {
  const platforms: Platform[] = [];
  const platformWith = async (sessions: Record<string, unknown>) => {
    const config = parseConfig(
      { sessions: { store: 'database', ...sessions }, database: { driver: 'pg', dsn: made.pgDb.url }, toolsets: ['conformance'] },
      {},
    );
    const p = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    await p.store.ready?.();
    platforms.push(p);
    return p;
  };
  afterAll(async () => {
    for (const p of platforms) await p.close();
  });

  const openStream = async (p: Platform) => {
    const session = new RawSession((r) => p.app.fetch(r));
    await session.initialize();
    const stream = new SseReader(await session.send('GET', undefined));
    expect((await stream.next())!.data).toBe('');
    return { session, stream };
  };

  // Limits of a few seconds: long enough for the test to open its stream first on a slow machine.
  it('at the end of its lifetime (sessions.ttl), without a statement', async () => {
    const p = await platformWith({ ttl: '3s' });
    const counter = (p.store as DatabaseSessionStore).database.statements;
    const { session, stream } = await openStream(p);
    const before = counter.count;
    // Nothing else ends this stream: the session's lifetime does.
    expect(await stream.rest()).toEqual([]);
    expect(counter.count - before).toBe(0);
    expect((await session.callTool('test_simple_text')).status).toBe(404);
  });

  it('at the end of its lifetime, even with events waiting for its client', async () => {
    const p = await platformWith({ ttl: '3s' });
    const session = new RawSession((r) => p.app.fetch(r));
    await session.initialize();
    // Not read yet: what comes waits in the stream.
    const response = await session.send('GET', undefined);
    for (let n = 0; n < 3; n++) await p.store.channel.publish(CHANGES_TOPIC, { kind: 'prompts_list_changed', params: { n } });
    // It ends by itself, unread.
    await waitFor(() => p.instance.streams.size === 0, { what: 'the stream to end by itself' });
    // Read after it ended: the priming event, then the end, and nothing of what waited.
    const events = await new SseReader(response).rest();
    expect(events).toEqual([expect.objectContaining({ data: '' })]);
  });

  it('when it has been idle for sessions.idle_timeout, after one look at the stored session', async () => {
    const p = await platformWith({ idle_timeout: '2s' });
    const counter = (p.store as DatabaseSessionStore).database.statements;
    const { session, stream } = await openStream(p);
    const before = counter.count;
    expect(await stream.rest()).toEqual([]);
    // The idle limit moves with activity, so the stream looked before it ended.
    expect(counter.count - before).toBeGreaterThanOrEqual(1);
    expect((await session.callTool('test_simple_text')).status).toBe(404);
  });

  it('goes on past the idle limit it opened with when the session was active meanwhile', async () => {
    const p = await platformWith({ idle_timeout: '3s' });
    const counter = (p.store as DatabaseSessionStore).database.statements;
    const admin = new pg.Client({ connectionString: made.pgDb.url });
    await admin.connect();
    const { session, stream } = await openStream(p);
    // Activity elsewhere moves the stored last activity on; here far on, so that the test does
    // not race the limit.
    try {
      await admin.query(`update baton.sessions set last_active_at = now() + interval '1 hour' where id = $1`, [session.id]);
    } finally {
      await admin.end();
    }
    const before = counter.count;
    // The stream's look at the session once the limit it opened with has passed.
    await waitFor(() => counter.count > before, { what: 'a statement of the stream looking at its session' });
    await p.store.channel.publish(CHANGES_TOPIC, { kind: 'tools_list_changed' });
    const event = (await stream.until((e) => e.message !== undefined)).at(-1)!;
    expect(event.message.method).toBe('notifications/tools/list_changed');
    expect((await session.delete()).status).toBe(200);
    expect(await stream.rest()).toEqual([]);
  });
});

describe('a GET stream on neon-http closes after stream_timeout and resumes', () => {
  let p: Platform;
  beforeAll(async () => {
    const config = parseConfig(
      {
        sessions: { store: 'database' },
        database: {
          driver: 'neon-http',
          dsn: made.endpoint.connectionString(made.neonDb.name),
          http_endpoint: made.endpoint.fetchEndpoint,
        },
        toolsets: ['conformance'],
        channel: { poll_interval: '50ms', stream_timeout: '300ms', retry: '250ms' },
      },
      {},
    );
    p = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('ends the stream by itself with a retry hint; the client resumes after its last event', async () => {
    const session = new RawSession((r) => p.app.fetch(r));
    await session.initialize();
    const response = await session.send('GET', undefined);
    const stream = new SseReader(response);
    const primed = await stream.next();
    expect(primed).toMatchObject({ retry: 250 });
    // Nothing else ends this stream: it ends because it has been open for stream_timeout.
    expect(await stream.rest()).toEqual([]);
    await p.store.channel.publish(CHANGES_TOPIC, { kind: 'resources_list_changed' });
    const resumed = new SseReader(await session.send('GET', undefined, { 'last-event-id': primed!.id! }));
    const event = (await resumed.until((e) => e.message !== undefined)).at(-1)!;
    expect(event.message.method).toBe('notifications/resources/list_changed');
    await resumed.cancel();
  });
});
