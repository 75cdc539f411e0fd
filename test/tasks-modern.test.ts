// The 2026-07-28 tasks extension across instances: two platforms that share nothing but the
// database. A task created on one is read on the other at once (the record is written before the
// CreateTaskResult leaves), a cancel sent to the other stops the handler where it runs, and an
// answer sent to the other continues the task there. Raw requests carrying the envelope.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { acceptedContent, defineTool, type HandlerContext, inputRequired, text } from '../src/core/define.js';
import { parseConfig } from '../src/config/index.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { type SseEvent, SseReader } from './helpers/sse.js';

const quiet = createLogger('error');
const URL_ = 'http://127.0.0.1/mcp';
const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const TASKS = { 'io.modelcontextprotocol/tasks': {} };
/** Waits on state, never on a clock: generous, for a loaded machine. */
const SETTLED = { timeout: 30_000, interval: 50 };

let db: TestDatabase;
let a: Platform;
let b: Platform;

beforeAll(async () => {
  db = await createTestDatabase('baton_tasks_modern');
  const open = () =>
    createPlatform(
      parseConfig(
        {
          toolsets: ['conformance'],
          auth: { api_keys: [KEY_A, KEY_B] },
          sessions: { store: 'database' },
          database: { driver: 'pg', dsn: db.url },
        },
        {},
      ),
      { logger: quiet, openDatabase: openNodeDatabase },
    );
  [a, b] = await Promise.all([open(), open()]);
  // As the Node server does at start: migrated, pg's LISTEN open.
  await Promise.all([a.store.ready?.(), b.store.ready?.()]);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
});

/** One 2026-07-28 request declaring the tasks extension (or not), with its JSON-RPC answer. */
async function send(p: Platform, method: string, params: Record<string, unknown>, options: { key?: string; tasks?: boolean } = {}) {
  const capabilities = { elicitation: { form: {} }, ...(options.tasks !== false && { extensions: TASKS }) };
  const taskId: Record<string, string> = typeof params.taskId === 'string' ? { 'mcp-name': params.taskId } : {};
  const response = await p.app.fetch(
    modernRequest(
      URL_,
      method,
      { ...params, _meta: { 'io.modelcontextprotocol/clientCapabilities': capabilities } },
      { authorization: `Bearer ${options.key ?? KEY_A}`, ...taskId },
    ),
  );
  const [message] = await readMessages(response);
  return message;
}

async function create(p: Platform, name: string, args: Record<string, unknown>): Promise<string> {
  const { result } = await send(p, 'tools/call', { name, arguments: args });
  expect(result).toMatchObject({ resultType: 'task', status: 'working', ttlMs: expect.any(Number) });
  return result.taskId;
}

const status = async (p: Platform, taskId: string) => (await send(p, 'tasks/get', { taskId })).result;

const statements = (p: Platform) => (p.store as DatabaseSessionStore).database.statements.count;

describe('2026-07-28 tasks on two platforms sharing a database', () => {
  it('creates the task on one and reads it on the other at once; another credential sees no such task', async () => {
    const taskId = await create(a, 'slow_compute', { seconds: 0, label: 'crossing' });
    // No wait: the record was stored before the CreateTaskResult left. One statement on B.
    const before = statements(b);
    expect((await status(b, taskId)).taskId).toBe(taskId);
    expect(statements(b) - before).toBe(1);
    // Whom it runs for is stored with it, for an instance that takes it over without a request.
    const { caller } = (await b.store.tasks.get(taskId, 'all'))!;
    expect(caller).toMatchObject({ principal: { method: 'api_key' }, clientInfo: { name: 'raw-modern' } });
    expect(caller.clientCapabilities).toMatchObject({ extensions: TASKS });
    const refused = await send(b, 'tasks/get', { taskId }, { key: KEY_B });
    expect(refused.error).toMatchObject({ code: -32602 });
    // Ran on A, its result read on B.
    await vi.waitFor(async () => expect((await status(b, taskId)).status).toBe('completed'), SETTLED);
    expect((await status(b, taskId)).result.content[0].text).toBe('computed crossing after 0 s');
    expect(b.tasks.running).not.toContain(taskId);
  });

  it('stops a task running on one when the other is asked to cancel it', async () => {
    // Creating a task is one statement (the record), and so is the cancel.
    const before = [statements(a), statements(b)];
    const taskId = await create(a, 'slow_compute', { seconds: 600, label: 'long' });
    expect(statements(a) - before[0]!).toBe(1);
    expect(a.tasks.running).toContain(taskId);
    const ack = await send(b, 'tasks/cancel', { taskId });
    expect(statements(b) - before[1]!).toBe(1);
    expect(ack.result).toEqual(expect.objectContaining({ resultType: 'complete' }));
    expect(ack.result).not.toHaveProperty('status');
    expect((await status(a, taskId)).status).toBe('cancelled');
    // The cancel crossed the channel and aborted the handler on A.
    await vi.waitFor(() => expect(a.tasks.running).not.toContain(taskId), SETTLED);
    // Idempotent: the same ack again.
    expect((await send(a, 'tasks/cancel', { taskId })).result.resultType).toBe('complete');
  });

  it('continues on the other a task waiting for input there: the answer is recorded and the task runs where it was given', async () => {
    const taskId = await create(a, 'confirm_delete', { filename: 'notes.txt' });
    await vi.waitFor(async () => expect((await status(b, taskId)).status).toBe('input_required'), SETTLED);
    const waiting = await status(b, taskId);
    expect(waiting.inputRequests.confirm.method).toBe('elicitation/create');
    // Waiting for input holds nothing anywhere.
    expect(a.tasks.running).not.toContain(taskId);
    const ack = await send(b, 'tasks/update', { taskId, inputResponses: { confirm: { action: 'accept', content: { confirm: true } } } });
    expect(ack.result.resultType).toBe('complete');
    await vi.waitFor(async () => expect((await status(a, taskId)).status).toBe('completed'), SETTLED);
    expect((await status(a, taskId)).result.content[0].text).toBe('deleted notes.txt');
  });

  it('records a tool error as completed with isError, a protocol error as failed with the error inlined', async () => {
    const [toolError, protocolError] = await Promise.all([create(a, 'failing_job', {}), create(b, 'protocol_error_job', {})]);
    await vi.waitFor(async () => expect((await status(b, toolError)).status).toBe('completed'), SETTLED);
    expect((await status(b, toolError)).result.isError).toBe(true);
    await vi.waitFor(async () => expect((await status(a, protocolError)).status).toBe('failed'), SETTLED);
    const failed = await status(a, protocolError);
    expect(failed.error).toEqual({ code: -32603, message: 'protocol_error_job broke on purpose' });
    expect(failed).not.toHaveProperty('result');
  });

  it('refuses what needs the extension to a client that did not declare it (-32021, requiredCapabilities), and answers an optional tool in the request', async () => {
    const required = await send(a, 'tools/call', { name: 'failing_job', arguments: {} }, { tasks: false });
    expect(required.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: TASKS } },
    });
    const inline = await send(a, 'tools/call', { name: 'slow_compute', arguments: { seconds: 0 } }, { tasks: false });
    expect(inline.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text' }] });
    const get = await send(a, 'tasks/get', { taskId: 'whatever' }, { tasks: false });
    expect(get.error?.code).toBe(-32021);
    for (const removed of ['tasks/result', 'tasks/list']) {
      expect((await send(a, removed, removed === 'tasks/list' ? {} : { taskId: 'x' })).error?.code).toBe(-32601);
    }
  });
});

it("runs the diagnostics toolset's sleep as a task, one that may run again from its start", async () => {
  const p = await createPlatform(parseConfig({ toolsets: ['diagnostics'] }, {}), { logger: quiet });
  try {
    const taskId = await create(p, 'sleep', { ms: 0 });
    await vi.waitFor(async () => expect((await status(p, taskId)).status).toBe('completed'), SETTLED);
    expect((await status(p, taskId)).result.content).toEqual([{ type: 'text', text: 'slept 0 ms' }]);
    expect((await p.store.tasks.get(taskId, 'all'))?.rerunnable).toBe(true);
  } finally {
    await p.close();
  }
});

it('answers task requests while the database is away with 503 and Retry-After, saying nothing of where it is', async () => {
  const config = parseConfig(
    {
      toolsets: ['conformance'],
      sessions: { store: 'database' },
      // Nothing listens on port 1.
      database: { driver: 'pg', dsn: 'postgres://baton@127.0.0.1:1/nowhere', statement_timeout: '2s' },
    },
    {},
  );
  const away = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
  try {
    for (const [method, params] of [
      ['tasks/get', { taskId: 'some-task' }],
      ['tasks/update', { taskId: 'some-task', inputResponses: {} }],
      ['tasks/cancel', { taskId: 'some-task' }],
    ] as const) {
      const response = await away.app.fetch(
        modernRequest(
          URL_,
          method,
          { ...params, _meta: { 'io.modelcontextprotocol/clientCapabilities': { extensions: TASKS } } },
          { 'mcp-name': 'some-task' },
        ),
      );
      expect(response.status, method).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await response.text()).not.toMatch(/127\.0\.0\.1|:1\b|nowhere|ECONNREFUSED/);
    }
  } finally {
    await away.close();
  }
});

it('gathers the input a tool asks for before its task in the request too, when it is answered there (no extension)', async () => {
  const NAME = { type: 'object' as const, properties: { name: { type: 'string' as const } }, required: ['name'] };
  const named = (ctx: HandlerContext) => acceptedContent(ctx.inputResponses, 'who', z.object({ name: z.string() }))?.name;
  const hello = defineTool({
    name: 'hello_later',
    description: 'Asks a name first, then greets (a task when the client supports tasks).',
    input: {},
    task: {
      support: 'optional',
      input: (_args, ctx) =>
        named(ctx) === undefined
          ? inputRequired({ inputRequests: { who: inputRequired.elicit({ message: 'Name?', requestedSchema: NAME }) } })
          : undefined,
    },
    handler: (_args, ctx) => text(`Hello, ${named(ctx)}!`),
  });
  const p = await createPlatform(parseConfig({}, {}), {
    logger: quiet,
    toolsets: [{ name: 'later', description: 'test', tools: [hello] }],
  });
  try {
    const first = await send(p, 'tools/call', { name: 'hello_later', arguments: {} }, { tasks: false });
    expect(first.result).toMatchObject({ resultType: 'input_required', inputRequests: { who: { method: 'elicitation/create' } } });
    const answers = { who: { action: 'accept', content: { name: 'Ada' } } };
    const second = await send(p, 'tools/call', { name: 'hello_later', arguments: {}, inputResponses: answers }, { tasks: false });
    expect(second.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'Hello, Ada!' }] });
    // With the extension, the same answers start a task that sees them.
    const taskId = (await send(p, 'tools/call', { name: 'hello_later', arguments: {}, inputResponses: answers })).result.taskId;
    await vi.waitFor(async () => expect((await status(p, taskId)).status).toBe('completed'), SETTLED);
    expect((await status(p, taskId)).result.content[0].text).toBe('Hello, Ada!');
  } finally {
    await p.close();
  }
});

describe('sessions.max_open_tasks', () => {
  it('refuses a credential its next task once it has that many working, naming the setting; others are served', async () => {
    const capped = await createPlatform(
      parseConfig({ toolsets: ['conformance'], auth: { api_keys: [KEY_A, KEY_B] }, sessions: { store: 'memory', max_open_tasks: 1 } }, {}),
      { logger: quiet },
    );
    try {
      const first = await create(capped, 'slow_compute', { seconds: 600 });
      const refused = await send(capped, 'tools/call', { name: 'slow_compute', arguments: { seconds: 600 } });
      expect(refused.error?.message).toMatch(/Too many open tasks.*sessions\.max_open_tasks/);
      // Another credential has its own allowance.
      const other = await send(capped, 'tools/call', { name: 'slow_compute', arguments: { seconds: 600 } }, { key: KEY_B });
      expect(other.result).toMatchObject({ resultType: 'task', status: 'working' });
      await send(capped, 'tasks/cancel', { taskId: first });
    } finally {
      await capped.close();
    }
  });
});

describe('notifications/tasks on subscriptions/listen (SEP-2663: the client names its tasks in notifications.taskIds)', () => {
  // A task that runs until the test lets it finish: its `working` is seen for certain, then its `completed`.
  const gates = new Map<string, { done: Promise<void>; open: () => void }>();
  const gate = (label: string) => {
    let entry = gates.get(label);
    if (!entry) {
      let open!: () => void;
      const done = new Promise<void>((resolve) => (open = resolve));
      entry = { done, open };
      gates.set(label, entry);
    }
    return entry;
  };
  const held = defineTool({
    name: 'held',
    description: 'Runs until the test opens its gate.',
    input: { label: z.string() },
    task: { support: 'required' },
    handler: async ({ label }) => {
      await gate(label).done;
      return text(`done ${label}`);
    },
  });
  const platformOn = (config: Record<string, unknown>) =>
    createPlatform(parseConfig({ auth: { api_keys: [KEY_A, KEY_B] }, ...config }, {}), {
      logger: quiet,
      openDatabase: openNodeDatabase,
      toolsets: [{ name: 'held', description: 'test', tools: [held] }],
    });

  async function start(p: Platform, key: string, label: string): Promise<string> {
    const { result } = await send(p, 'tools/call', { name: 'held', arguments: { label } }, { key });
    expect(result).toMatchObject({ resultType: 'task', status: 'working' });
    return result.taskId;
  }

  /** Opens a listen stream naming `taskIds`; resolves with it and the task ids acknowledged. */
  async function listen(p: Platform, key: string, taskIds: string[], more: Record<string, unknown> = {}) {
    const response = await p.app.fetch(
      modernRequest(
        URL_,
        'subscriptions/listen',
        { notifications: { taskIds, ...more }, _meta: { 'io.modelcontextprotocol/clientCapabilities': { extensions: TASKS } } },
        { authorization: `Bearer ${key}` },
      ),
    );
    expect(response.status).toBe(200);
    const stream = new SseReader(response);
    const ack = (await stream.until((event) => event.message?.method === 'notifications/subscriptions/acknowledged')).at(-1);
    expect(ack?.message?.method).toBe('notifications/subscriptions/acknowledged');
    return { stream, ack: ack!.message.params };
  }

  const taskNotes = (events: SseEvent[]) =>
    events.filter((event) => event.message?.method === 'notifications/tasks').map((event) => event.message.params);
  const untilStatus = async (stream: SseReader, taskId: string, wanted: string) =>
    taskNotes(await stream.until((event) => event.message?.params?.taskId === taskId && event.message.params.status === wanted));

  async function scenario(runner: Platform, listener: Platform, tag: string) {
    const mine = await start(runner, KEY_A, `${tag}-a`);
    const theirs = await start(runner, KEY_B, `${tag}-b`);
    const a = await listen(listener, KEY_A, [mine]);
    expect(a.ack.notifications.taskIds).toEqual([mine]);
    expect(a.ack._meta['io.modelcontextprotocol/subscriptionId']).toBeDefined();
    // The other credential names both: only its own is acknowledged.
    const b = await listen(listener, KEY_B, [mine, theirs]);
    expect(b.ack.notifications.taskIds).toEqual([theirs]);

    expect((await untilStatus(a.stream, mine, 'working')).at(-1)).toMatchObject({
      taskId: mine,
      status: 'working',
      ttlMs: expect.any(Number),
    });
    gate(`${tag}-a`).open();
    const finished = (await untilStatus(a.stream, mine, 'completed')).at(-1);
    expect(finished).toMatchObject({ taskId: mine, status: 'completed', result: { content: [{ type: 'text', text: `done ${tag}-a` }] } });
    expect(finished._meta['io.modelcontextprotocol/subscriptionId']).toBe(a.ack._meta['io.modelcontextprotocol/subscriptionId']);

    // Its own task's notifications arrive (after the other task ended); none is of the other's task.
    gate(`${tag}-b`).open();
    const seen = await untilStatus(b.stream, theirs, 'completed');
    expect(seen.map((note) => note.status)).toEqual(['working', 'completed']);
    expect(seen.every((note) => note.taskId === theirs)).toBe(true);
    await Promise.all([a.stream.cancel(), b.stream.cancel()]);
  }

  it('a stream held by one platform hears the tasks run on the other (one database), only its own credential', async () => {
    const [runner, listener] = await Promise.all([
      platformOn({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }),
      platformOn({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }),
    ]);
    try {
      await Promise.all([runner.store.ready?.(), listener.store.ready?.()]);
      await scenario(runner, listener, 'pg');
    } finally {
      await Promise.all([runner.close(), listener.close()]);
    }
  });

  it('the memory store: the same on one platform; the rest of the filter is still served; -32021 without the extension', async () => {
    const p = await platformOn({});
    try {
      await scenario(p, p, 'memory');
      // Tasks and list changes on one stream: the acknowledgement names both, and both arrive.
      const task = await start(p, KEY_A, 'memory-mixed');
      const mixed = await listen(p, KEY_A, [task], { toolsListChanged: true });
      expect(mixed.ack.notifications).toEqual({ toolsListChanged: true, taskIds: [task] });
      await untilStatus(mixed.stream, task, 'working');
      await p.changes.toolsChanged();
      expect((await mixed.stream.until((event) => event.message?.method === 'notifications/tools/list_changed')).length).toBeGreaterThan(0);
      gate('memory-mixed').open();
      expect((await untilStatus(mixed.stream, task, 'completed')).at(-1)).toMatchObject({ status: 'completed' });
      await mixed.stream.cancel();

      const refused = await send(p, 'subscriptions/listen', { notifications: { taskIds: [task] } }, { tasks: false });
      expect(refused.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { extensions: TASKS } } });
    } finally {
      await p.close();
    }
  });
});
