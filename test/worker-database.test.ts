// The production edge path end to end: the Worker in workerd, the database store over the
// neon-http driver, queries through the local Neon endpoint into the real Postgres. The Worker
// is stopped and started again between calls; the client carries on in the same session.
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startWrangler, type RunningWorker } from './helpers/wrangler.js';
import { connectClient, RawSession, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { SseReader } from './helpers/sse.js';

let db: TestDatabase;
let endpoint: Awaited<ReturnType<typeof startNeonEndpoint>>;
let worker: RunningWorker | undefined;

const STATE_TOOL = 'test_input_required_result_request_state';
const CONFIRMED = { confirm: { action: 'accept', content: { ok: true } } };

beforeAll(async () => {
  db = await createTestDatabase('baton_worker');
  endpoint = await startNeonEndpoint({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres' });
});

afterAll(async () => {
  await worker?.stop();
  await endpoint?.close();
  await db?.drop();
});

it('keeps a session, what it negotiated, and the requestState key across a Worker restart (neon-http)', async () => {
  // No SESSIONS_STORE: with DATABASE_URL set, the Worker's sessions go to the database.
  const vars = {
    BATON_TOOLSETS: 'conformance',
    DATABASE_URL: endpoint.connectionString(db.name),
    DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
  };
  worker = await startWrangler({ vars });
  const port = worker.port;
  const elicited: string[] = [];
  const { client, transport } = await connectClient(worker.url, {
    capabilities: { elicitation: {} },
    onElicit: (message) => {
      elicited.push(message);
      return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
    },
  });
  expect((await client.callTool({ name: 'test_simple_text', arguments: {} })).isError).toBeFalsy();

  // A 2026-07-28 call's first round; its state is sealed with the key kept in Postgres.
  const first = (await readMessages(await fetch(modernRequest(worker.url, 'tools/call', { name: STATE_TOOL, arguments: {} }))))[0];
  expect(first.result.resultType).toBe('input_required');

  await worker.stop();
  worker = await startWrangler({ vars, port });

  // A new isolate redeems it: the key did not live in the old one.
  const second = await fetch(
    modernRequest(worker.url, 'tools/call', {
      name: STATE_TOOL,
      arguments: {},
      inputResponses: CONFIRMED,
      requestState: first.result.requestState,
    }),
  );
  expect((await readMessages(second))[0].result.content[0].text).toMatch(/^state-ok/);

  const after = await client.callTool({ name: 'test_elicitation', arguments: { message: 'after restart' } });
  expect(after.isError).toBeFalsy();
  expect(JSON.stringify(after.content)).toContain('ada@example.com');
  expect(elicited).toEqual(['after restart']);

  const check = new pg.Client({ connectionString: db.url });
  await check.connect();
  const { rows } = await check.query('select protocol_version from baton.sessions where id = $1', [transport.sessionId]);
  await check.end();
  expect(rows).toHaveLength(1);
  expect(worker.logs.join('')).not.toContain('sessions are kept in memory');
  await client.close();
});

it('delivers a change to two listen streams waiting at once, each held by its own request (neon-http polls)', async () => {
  const vars = {
    BATON_TOOLSETS: 'conformance',
    DATABASE_URL: endpoint.connectionString(db.name),
    DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
  };
  const listener = await startWrangler({ vars });
  try {
    // Two requests wait on the channel at the same time: the polls that serve them are shared.
    const listens = await Promise.all(
      [1, 2].map(async () => {
        const response = await fetch(modernRequest(listener.url, 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
        expect(response.status).toBe(200);
        const reader = new SseReader(response);
        expect((await reader.next())?.message.method).toBe('notifications/subscriptions/acknowledged');
        return reader;
      }),
    );
    const changed = listens.map((reader) => reader.until((event) => event.message?.method === 'notifications/tools/list_changed'));
    const trigger = await fetch(modernRequest(listener.url, 'tools/call', { name: 'test_trigger_tool_change', arguments: {} }));
    expect((await readMessages(trigger))[0].result).toBeDefined();
    for (const events of await Promise.all(changed)) expect(events.at(-1)?.message.method).toBe('notifications/tools/list_changed');
    await Promise.all(listens.map((reader) => reader.cancel()));
    expect(listener.logs.join('')).not.toMatch(/different request|reading messages failed/);
  } finally {
    await listener.stop();
  }
});

it('keeps delivering after a request that started a poll ended while it was in flight (neon-http)', async () => {
  const vars = {
    BATON_TOOLSETS: 'conformance,diagnostics',
    DATABASE_URL: endpoint.connectionString(db.name),
    DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
  };
  const listener = await startWrangler({ vars });
  // One client holds a lock that stops every read of the message table; another watches for a
  // poll waiting on it.
  const [locker, watcher] = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
  await Promise.all([locker.connect(), watcher.connect()]);
  const pollsWaiting = async () =>
    (
      await watcher.query(
        "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%jsonb_to_recordset%'",
      )
    ).rows[0].n as number;
  const listen = async () => {
    const response = await fetch(modernRequest(listener.url, 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
    const reader = new SseReader(response);
    expect((await reader.next())?.message.method).toBe('notifications/subscriptions/acknowledged');
    return reader;
  };
  /** A change announced through the Worker: only a poll brings it to the listen streams. */
  const changed = async (readers: SseReader[]) => {
    const heard = readers.map((reader) => reader.until((event) => event.message?.method === 'notifications/tools/list_changed'));
    const trigger = await fetch(modernRequest(listener.url, 'tools/call', { name: 'test_trigger_tool_change', arguments: {} }));
    expect((await readMessages(trigger))[0].result).toBeDefined();
    for (const events of await Promise.all(heard)) expect(events.at(-1)?.message.method).toBe('notifications/tools/list_changed');
  };
  try {
    const session = new RawSession((request) => fetch(request), listener.url);
    expect((await session.initialize()).status).toBe(200);
    await locker.query('begin');
    await locker.query('lock table baton.messages in access exclusive mode');
    // A call that waits on the channel for its session's messages: its own poll starts (in its
    // request) and hangs on the lock; a listen stream opened now waits on the channel too, its
    // polls due while that one is in flight. Then the call ends, its poll still in flight.
    const call = session.callTool('sleep', { ms: 4_000 });
    await expect.poll(pollsWaiting, { timeout: 30_000 }).toBe(1);
    const waiting = await listen();
    expect((await call).status).toBe(200);
    await locker.query('rollback');
    // The stream that waited meanwhile, and one opened afterwards, still hear changes.
    await changed([waiting]);
    await changed([await listen()]);
    await waiting.cancel();
  } finally {
    await Promise.all([locker.end().catch(() => {}), watcher.end()]);
    await listener.stop();
  }
}, 120_000);
