// The 2025-11-25 experimental tasks for 2025 sessions, through the SDK v1 client's own task API
// (`client.experimental.tasks`), on the memory store and on two platforms that share nothing but
// a Postgres database (pg). The tasks are the same records the 2026-07-28 extension uses, scoped
// to the session that created them: another session, another credential or a 2026-07-28 request
// gets what an unknown task gets. Across the two platforms: a task created through one is read,
// waited for, answered and cancelled through the other.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  type ClientCapabilities,
  CreateTaskResultSchema,
  ElicitRequestSchema,
  McpError,
  RELATED_TASK_META_KEY,
  type Task,
  TaskStatusNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { CHANGES_TOPIC } from '../src/store/channel/types.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { waitFor } from './helpers/wait.js';

const quiet = createLogger('error');
const URL_ = 'http://127.0.0.1/mcp';
const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

interface Pair {
  /** Two platforms (the same one for the memory store). */
  a: Platform;
  b: Platform;
}

function open(store: 'memory' | { dsn: string }): Promise<Platform> {
  return createPlatform(
    parseConfig(
      {
        toolsets: ['diagnostics', 'conformance'],
        auth: { api_keys: [KEY_A, KEY_B] },
        sessions: store === 'memory' ? { store: 'memory' } : { store: 'database' },
        ...(store !== 'memory' && { database: { driver: 'pg', dsn: store.dsn } }),
      },
      {},
    ),
    { logger: quiet, openDatabase: openNodeDatabase },
  );
}

/** A client whose requests go to whichever platform `target` names at the time (a balancer, by hand). */
async function connect(target: () => Platform, options: { key?: string; capabilities?: ClientCapabilities } = {}) {
  const client = new Client({ name: 'tasks-test', version: '1.0.0' }, { capabilities: options.capabilities ?? { elicitation: {} } });
  const transport = new StreamableHTTPClientTransport(new URL(URL_), {
    requestInit: { headers: { authorization: `Bearer ${options.key ?? KEY_A}` } },
    fetch: async (url, init) => target().app.fetch(new Request(url, init)),
  });
  await client.connect(transport);
  return client;
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const message of stream) seen.push(message);
  return seen;
}

/** Creates a task of `name` and answers its id (the CreateTaskResult, not the result). */
async function create(client: Client, name: string, args: Record<string, unknown>): Promise<Task> {
  const created = await client.request(
    { method: 'tools/call', params: { name, arguments: args, task: { ttl: 60_000 } } },
    CreateTaskResultSchema,
  );
  expect(created.task.status).toBe('working');
  return created.task;
}

/** The JSON-RPC error code a request was answered with. */
async function codeOf(request: Promise<unknown>): Promise<number | undefined> {
  try {
    await request;
    return undefined;
  } catch (error) {
    return error instanceof McpError ? error.code : -1;
  }
}

/** A 2026-07-28 request's answer (to check what that era sees of a 2025 task). */
async function modern(p: Platform, method: string, params: Record<string, unknown>) {
  const capabilities = { extensions: { 'io.modelcontextprotocol/tasks': {} } };
  const headers = { authorization: `Bearer ${KEY_A}`, ...(typeof params.taskId === 'string' && { 'mcp-name': params.taskId }) };
  const response = await p.app.fetch(
    modernRequest(URL_, method, { ...params, _meta: { 'io.modelcontextprotocol/clientCapabilities': capabilities } }, headers),
  );
  return (await readMessages(response))[0];
}

const stores: { name: string; setup: () => Promise<Pair & { close: () => Promise<void> }> }[] = [
  {
    name: 'memory',
    setup: async () => {
      const p = await open('memory');
      return { a: p, b: p, close: () => p.close() };
    },
  },
  {
    name: 'pg, two platforms',
    setup: async () => {
      const db: TestDatabase = await createTestDatabase('baton_tasks_session');
      const [a, b] = await Promise.all([open({ dsn: db.url }), open({ dsn: db.url })]);
      await Promise.all([a.store.ready?.(), b.store.ready?.()]);
      return {
        a,
        b,
        close: async () => {
          await Promise.all([a.close(), b.close()]);
          await db.drop();
        },
      };
    },
  },
];

describe.each(stores)('2025-11-25 tasks in sessions ($name)', ({ setup }) => {
  let pair: Pair & { close: () => Promise<void> };
  const clients: Client[] = [];
  const client = async (target: () => Platform, options?: Parameters<typeof connect>[1]) => {
    const made = await connect(target, options);
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    pair = await setup();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await pair?.close();
  });

  it('declares tasks in initialize, and each tool its taskSupport in tools/list', async () => {
    const c = await client(() => pair.a);
    expect(c.getServerCapabilities()?.tasks).toEqual(TASKS_CAPABILITY);
    const { tools } = await c.listTools();
    const support = (tool: string) => tools.find((t) => t.name === tool)?.execution?.taskSupport;
    expect(support('sleep')).toBe('optional');
    expect(support('failing_job')).toBe('required');
    expect(tools.find((t) => t.name === 'test_simple_text')).not.toHaveProperty('execution');
  });

  it("gets the result of diagnostics' sleep through callToolStream", async () => {
    const c = await client(() => pair.a);
    await c.listTools();
    const seen = await collect(c.experimental.tasks.callToolStream({ name: 'sleep', arguments: { ms: 50 } }, CallToolResultSchema));
    expect(seen[0]?.type).toBe('taskCreated');
    const last = seen.at(-1)!;
    expect(last.type).toBe('result');
    const { taskId } = (seen[0] as { task: Task }).task;
    if (last.type !== 'result') throw new Error('no result');
    expect(last.result.content).toEqual([{ type: 'text', text: 'slept 50 ms' }]);
    // tasks/result names its task; the task is kept, completed.
    expect(last.result._meta?.[RELATED_TASK_META_KEY]).toEqual({ taskId });
    expect((await c.experimental.tasks.getTask(taskId)).status).toBe('completed');
  });

  it('ends a task whose tool reports an error failed; tasks/result still answers what the call would have', async () => {
    const c = await client(() => pair.a);
    const task = await create(c, 'failing_job', {});
    const result = await c.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([{ type: 'text', text: 'failing_job failed, as it always does' }]);
    expect((await c.experimental.tasks.getTask(task.taskId)).status).toBe('failed');
    // A protocol error is the answer of tasks/result itself.
    const broken = await create(c, 'protocol_error_job', {});
    expect(await codeOf(c.experimental.tasks.getTaskResult(broken.taskId, CallToolResultSchema))).toBe(-32603);
    expect((await c.experimental.tasks.getTask(broken.taskId)).status).toBe('failed');
  });

  it('refuses a task for a tool that takes none, and a plain call of a tool that must be a task (-32601)', async () => {
    const c = await client(() => pair.a);
    const plain = c.request({ method: 'tools/call', params: { name: 'failing_job', arguments: {} } }, CallToolResultSchema);
    expect(await codeOf(plain)).toBe(-32601);
    expect(await codeOf(create(c, 'test_simple_text', {}))).toBe(-32601);
  });

  it('asks for the input a task needs on the tasks/result stream, and the task goes on with the answer', async () => {
    const c = await client(() => pair.a);
    const asked: { message: string; related: unknown }[] = [];
    c.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push({ message: request.params.message, related: request.params._meta?.[RELATED_TASK_META_KEY] });
      return { action: 'accept', content: { confirm: true } };
    });
    const seen = await collect(
      c.experimental.tasks.callToolStream({ name: 'confirm_delete', arguments: { filename: 'notes.txt' } }, CallToolResultSchema, {
        task: {},
      }),
    );
    const last = seen.at(-1)!;
    if (last.type !== 'result') throw new Error(`no result: ${JSON.stringify(last)} ${(last as { error?: Error }).error?.message}`);
    expect(last.result.content).toEqual([{ type: 'text', text: 'deleted notes.txt' }]);
    const { taskId } = (seen[0] as { task: Task }).task;
    expect(asked).toEqual([{ message: 'Delete notes.txt?', related: { taskId } }]);
  });

  it('gathers input in the request before the task exists', async () => {
    const c = await client(() => pair.a);
    c.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Ada' } }));
    await c.listTools();
    const seen = await collect(c.experimental.tasks.callToolStream({ name: 'test_tool_with_task', arguments: {} }, CallToolResultSchema));
    const last = seen.at(-1)!;
    if (last.type !== 'result') throw new Error(`no result: ${JSON.stringify(last)} ${(last as { error?: Error }).error?.message}`);
    expect(last.result.content).toEqual([{ type: 'text', text: 'Hello, Ada, from a task!' }]);
  });

  it("lists only the session's own tasks, in pages; a cursor it did not give is refused", async () => {
    const mine = await client(() => pair.a);
    const other = await client(() => pair.a);
    const made = [await create(mine, 'sleep', { ms: 0 }), await create(mine, 'sleep', { ms: 0 })];
    const theirs = await create(other, 'sleep', { ms: 0 });
    const listed = await mine.experimental.tasks.listTasks();
    expect(listed.tasks.map((t) => t.taskId).sort()).toEqual(made.map((t) => t.taskId).sort());
    expect((await other.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toEqual([theirs.taskId]);
    expect(await codeOf(mine.experimental.tasks.listTasks(theirs.taskId))).toBe(-32602);
  });

  it('hides a task from another session, another credential and a 2026-07-28 request; a cancel stops its handler', async () => {
    const owner = await client(() => pair.a);
    const sameKey = await client(() => pair.b);
    const otherKey = await client(() => pair.b, { key: KEY_B });
    const { taskId } = await create(owner, 'sleep', { ms: 60_000 });
    expect(pair.a.tasks.running).toContain(taskId);
    for (const stranger of [sameKey, otherKey]) {
      expect(await codeOf(stranger.experimental.tasks.getTask(taskId))).toBe(-32602);
      expect(await codeOf(stranger.experimental.tasks.getTaskResult(taskId, CallToolResultSchema))).toBe(-32602);
      expect(await codeOf(stranger.experimental.tasks.cancelTask(taskId))).toBe(-32602);
    }
    expect((await modern(pair.b, 'tasks/get', { taskId })).error).toMatchObject({ code: -32602 });
    expect((await modern(pair.b, 'tasks/cancel', { taskId })).error).toMatchObject({ code: -32602 });
    expect((await owner.experimental.tasks.getTask(taskId)).status).toBe('working');

    const cancelled = await owner.experimental.tasks.cancelTask(taskId);
    expect(cancelled).toMatchObject({ taskId, status: 'cancelled' });
    await waitFor(() => !pair.a.tasks.running.includes(taskId), { what: 'the cancelled handler to stop' });
    // Terminal: a second cancel is refused, as the revision says; the result is an error.
    expect(await codeOf(owner.experimental.tasks.cancelTask(taskId))).toBe(-32602);
    expect(await codeOf(owner.experimental.tasks.getTaskResult(taskId, CallToolResultSchema))).toBeDefined();
  });

  it("sends notifications/tasks/status on the session's stream", async () => {
    const c = await client(() => pair.b);
    const heard: string[] = [];
    c.setNotificationHandler(TaskStatusNotificationSchema, (n) => void heard.push(`${n.params.taskId}:${n.params.status}`));
    // The client opens its GET stream after initialize. Other clients' streams are open on this
    // platform too, so wait until this one hears an announcement: a task that ended before its
    // stream opened is not announced on it.
    let live = false;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => void (live = true));
    await waitFor(
      async () => {
        await pair.b.store.channel.publish(CHANGES_TOPIC, { kind: 'tools_list_changed' });
        return live;
      },
      { what: 'the session stream' },
    );
    const { taskId } = await create(c, 'sleep', { ms: 20 });
    await waitFor(() => heard.includes(`${taskId}:completed`), {
      what: 'the completed status notification',
      detail: () => heard.join('\n'),
    });
  });
});

describe('2025-11-25 tasks across two platforms sharing a database (pg)', () => {
  let pair: Pair & { close: () => Promise<void> };
  const clients: Client[] = [];
  const client = async (target: () => Platform) => {
    const made = await connect(target);
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    pair = await stores[1]!.setup();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await pair?.close();
  });

  it('creates on one platform, then reads, waits for, answers and cancels through the other; the stream on one announces a task of the other', async () => {
    let target = pair.a;
    const c = await client(() => target);
    c.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { confirm: false } }));
    const heard: string[] = [];
    c.setNotificationHandler(TaskStatusNotificationSchema, (n) => void heard.push(`${n.params.taskId}:${n.params.status}`));
    // The session's stream is served by A.
    await waitFor(() => pair.a.instance.streams.size > 0, { what: 'the session stream on A' });

    const slow = await create(c, 'sleep', { ms: 300 });
    const waiting = await create(c, 'confirm_delete', { filename: 'b.txt' });
    const doomed = await create(c, 'sleep', { ms: 60_000 });
    expect(pair.a.tasks.running).toEqual(expect.arrayContaining([slow.taskId, doomed.taskId]));
    target = pair.b;
    // At once: the record was stored before the CreateTaskResult left A.
    expect((await c.experimental.tasks.getTask(doomed.taskId)).status).toBe('working');
    // Runs on A; B's tasks/result waits for it through the channel.
    const result = await c.experimental.tasks.getTaskResult(slow.taskId, CallToolResultSchema);
    expect(result.content).toEqual([{ type: 'text', text: 'slept 300 ms' }]);
    // Asked and answered through B; the task goes on there.
    const answered = await c.experimental.tasks.getTaskResult(waiting.taskId, CallToolResultSchema);
    expect(answered.content).toEqual([{ type: 'text', text: 'kept b.txt' }]);
    // Cancelled through B, stopped on A.
    await c.experimental.tasks.cancelTask(doomed.taskId);
    await waitFor(() => !pair.a.tasks.running.includes(doomed.taskId), { what: 'the handler on A to stop' });
    // Created and run on B; its end announced by A's stream.
    const elsewhere = await create(c, 'sleep', { ms: 10 });
    expect(pair.a.tasks.running).not.toContain(elsewhere.taskId);
    await waitFor(() => heard.includes(`${elsewhere.taskId}:completed`), {
      what: "B's task announced on A",
      detail: () => heard.join('\n'),
    });
    expect(heard).toContain(`${doomed.taskId}:cancelled`);
  });
});
