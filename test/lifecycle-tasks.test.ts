// Tasks outlive their instance: two real Node processes on one Postgres behind the round-robin proxy
// (routing by readiness, as a load balancer does), and a 2026-07-28 client declaring the tasks
// extension (raw requests carrying the envelope). A task is created on A directly; everything else
// goes through the proxy, or to B when the test says so. A is then killed (SIGKILL: a crash, its
// lease runs out) or drained (SIGTERM with a grace period shorter than the task: it lets go of the
// lease). Deadlines are generous; the takeover time after a crash is printed, not asserted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { answeringClient, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { startRoundRobinProxy, type Proxy as RoundRobinProxy } from './helpers/proxy.js';
import { startServer, untilReady, type RunningServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

const TASKS = { 'io.modelcontextprotocol/tasks': {} };
/** Generous: the machine may be loaded; a takeover is due within a lease and a takeover interval. */
const DEADLINE = 90_000;

let db: TestDatabase;
let check: pg.Client;
const running: RunningServer[] = [];
const proxies: RoundRobinProxy[] = [];

beforeAll(async () => {
  db = await createTestDatabase('baton_lifecycle_tasks');
  check = new pg.Client({ connectionString: db.url });
  await check.connect();
});

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(running.map((server) => server.stop('SIGKILL')));
  await check?.end();
  await db?.drop();
});

interface Pair {
  a: RunningServer;
  b: RunningServer;
  lb: RoundRobinProxy;
}

/** Two instances on the test's database, with these task and shutdown settings, behind the proxy. */
async function pair(yaml: string, env: Record<string, string> = {}): Promise<Pair> {
  const settings = {
    SESSIONS_STORE: 'database',
    DATABASE_URL: db.url,
    BATON_TOOLSETS: 'diagnostics,conformance',
    BATON_CONFIG_YAML: yaml,
    ...env,
  };
  const [a, b] = await Promise.all([startServer(settings), startServer(settings)]);
  running.push(a!, b!);
  await Promise.all([untilReady(a!), untilReady(b!)]);
  const lb = await startRoundRobinProxy(
    [a!, b!].map((s) => `http://127.0.0.1:${s.port}`),
    { readiness: { intervalMs: 100 } },
  );
  proxies.push(lb);
  await waitFor(() => lb.ready.length === 2, { what: 'the proxy to find both instances ready' });
  return { a: a!, b: b!, lb };
}

/** One request of a client that declares the tasks extension; its JSON-RPC answer, or undefined when none came (an instance gone). */
async function send(url: string, method: string, params: Record<string, unknown>) {
  const capabilities = { elicitation: { form: {} }, extensions: TASKS };
  const taskId: Record<string, string> = typeof params.taskId === 'string' ? { 'mcp-name': params.taskId } : {};
  try {
    const response = await fetch(
      modernRequest(url, method, { ...params, _meta: { 'io.modelcontextprotocol/clientCapabilities': capabilities } }, taskId),
    );
    if (response.status !== 200) {
      await response.body?.cancel();
      return undefined;
    }
    const [message] = await readMessages(response);
    return message;
  } catch {
    // The connection was cut (an instance killed under it): as a client would, ask again later.
    return undefined;
  }
}

async function create(url: string, name: string, args: Record<string, unknown>): Promise<string> {
  const { result } = await send(url, 'tools/call', { name, arguments: args });
  expect(result).toMatchObject({ resultType: 'task', status: 'working' });
  return result.taskId;
}

/** The task as tasks/get answers it through `url`; undefined while nothing answers. */
async function get(url: string, taskId: string) {
  return (await send(url, 'tasks/get', { taskId }))?.result;
}

/** Polls through `url` until the task reaches `status`; returns it. */
function until(url: string, taskId: string, status: string, logs: () => string) {
  return waitFor(
    async () => {
      const task = await get(url, taskId);
      return task?.status === status ? task : undefined;
    },
    { what: `task ${taskId} to be ${status}`, timeoutMs: DEADLINE, intervalMs: 100, detail: logs },
  );
}

async function row(taskId: string) {
  const { rows } = await check.query('select status, lease_owner, attempts from baton.tasks where id = $1', [taskId]);
  return rows[0] as { status: string; lease_owner: string | null; attempts: number };
}

const mcp = (server: RunningServer) => server.url;
const logsOf = (p: Pair) => () => `A:\n${p.a.logs.join('')}\nB:\n${p.b.logs.join('')}`;

describe('a task whose instance crashes (SIGKILL)', () => {
  it('runs again from its start on the other instance when it may, and fails saying its instance stopped when it may not', async () => {
    // A short lease, so that the crash is noticed soon; looks for work to take over often.
    const p = await pair('tasks:\n  lease: 2s\n  takeover_interval: 250ms\n');
    const through = `${p.lb.url}/mcp`;
    const again = await create(mcp(p.a), 'sleep', { ms: 3_000 });
    const once = await create(mcp(p.a), 'sleep_once', { ms: 60_000 });
    expect(await row(again)).toMatchObject({ status: 'working', attempts: 1 });
    const holder = (await row(again)).lease_owner;
    expect((await row(once)).lease_owner).toBe(holder);

    const killed = performance.now();
    await p.a.stop('SIGKILL');
    const failed = await until(through, once, 'failed', logsOf(p));
    const failedAfter = performance.now() - killed;
    const completed = await until(through, again, 'completed', logsOf(p));
    const completedAfter = performance.now() - killed;

    expect(failed.error).toMatchObject({ code: -32603, data: { reason: 'instance_stopped', tool: 'sleep_once' } });
    expect(failed.error.message).toContain('The server instance that was running this task stopped before the task finished');
    expect(completed.result.content).toEqual([{ type: 'text', text: 'slept 3000 ms' }]);
    // Started again elsewhere, from its start.
    const rerun = await row(again);
    expect(rerun.attempts).toBe(2);
    expect((await row(once)).attempts).toBe(2);
    console.log(
      `takeover after SIGKILL (lease 2s, takeover_interval 250ms): sleep_once failed after ${Math.round(failedAfter)} ms, ` +
        `sleep (3000 ms, re-run) completed after ${Math.round(completedAfter)} ms`,
    );
    await p.b.stop('SIGTERM');
  });
});

describe('a task whose instance drains (SIGTERM, grace period shorter than the task)', () => {
  it('is let go of by the draining instance and finished by the other without waiting for its lease', async () => {
    // A lease far longer than the test's deadline: a takeover that waited for it would not come in time.
    const p = await pair(
      'tasks:\n  lease: 10m\n  takeover_interval: 250ms\nserver:\n  shutdown:\n    pre_shutdown_delay: 0s\n    grace_period: 1s\n',
    );
    const through = `${p.lb.url}/mcp`;
    const taskId = await create(mcp(p.a), 'sleep', { ms: 4_000 });
    const before = await row(taskId);
    expect(before).toMatchObject({ status: 'working', attempts: 1 });

    expect(await p.a.stop('SIGTERM')).toBe(0);
    // Gone, and its lease with it: released (nobody holds it) or already taken by B.
    const after = await row(taskId);
    expect(after.lease_owner === null || after.attempts === 2).toBe(true);
    expect(after.lease_owner).not.toBe(before.lease_owner);
    expect(p.a.logs.join('')).toContain('"msg":"tasks released for another instance to take over","released":1');

    const completed = await until(through, taskId, 'completed', logsOf(p));
    expect(completed.result.content).toEqual([{ type: 'text', text: 'slept 4000 ms' }]);
    expect((await row(taskId)).attempts).toBe(2);
    await p.b.stop('SIGTERM');
  });
});

describe('a task running on one instance, asked about on the other', () => {
  it('stops on A when B is asked to cancel it; continues on B when B gets the answer to its question, after A is gone', async () => {
    const p = await pair('tasks:\n  lease: 5s\n  takeover_interval: 250ms\n', { LOG_LEVEL: 'debug' });
    const through = `${p.lb.url}/mcp`;

    const long = await create(mcp(p.a), 'sleep_once', { ms: 60_000 });
    const ack = await send(mcp(p.b), 'tasks/cancel', { taskId: long });
    expect(ack.result.resultType).toBe('complete');
    expect((await get(through, long)).status).toBe('cancelled');
    // The cancel crossed from B to A's handler, which stopped (60 s early) and wrote nothing over it.
    await waitFor(() => p.a.logs.join('').includes(`"msg":"task handler stopped","task":"${long}"`), {
      what: 'A to stop the cancelled handler',
      timeoutMs: DEADLINE,
      detail: logsOf(p),
    });
    expect((await row(long)).status).toBe('cancelled');

    const question = await create(mcp(p.a), 'confirm_delete', { filename: 'notes.txt' });
    const waiting = await until(through, question, 'input_required', logsOf(p));
    expect(waiting.inputRequests.confirm.method).toBe('elicitation/create');
    // Waiting for input, the task holds nothing on A: A may go.
    expect((await row(question)).lease_owner).toBeNull();
    await p.a.stop('SIGKILL');
    await waitFor(() => p.lb.ready.length === 1, { what: 'the proxy to see A gone' });

    const answered = await send(mcp(p.b), 'tasks/update', {
      taskId: question,
      inputResponses: { confirm: { action: 'accept', content: { confirm: true } } },
    });
    expect(answered.result.resultType).toBe('complete');
    const done = await until(through, question, 'completed', logsOf(p));
    expect(done.result.content[0].text).toBe('deleted notes.txt');
    // Continued, not taken over: it started once.
    expect((await row(question)).attempts).toBe(1);
    await p.b.stop('SIGTERM');
  });
});

describe("a 2025 session's task whose instance crashes (SIGKILL), through the SDK v1 client's experimental task API", () => {
  it('runs again on the other instance when it may, and fails saying its instance stopped when it may not', async () => {
    const p = await pair('tasks:\n  lease: 2s\n  takeover_interval: 250ms\n');
    // The session is opened on A and its tasks created there, so that killing A kills their runs.
    const onA = answeringClient('tasks-2025-on-a');
    const first = new StreamableHTTPClientTransport(new URL(mcp(p.a)));
    await onA.connect(first);
    const create = async (name: string, args: Record<string, unknown>) =>
      (await onA.request({ method: 'tools/call', params: { name, arguments: args, task: {} } }, CreateTaskResultSchema)).task.taskId;
    const again = await create('sleep', { ms: 3_000 });
    const once = await create('sleep_once', { ms: 60_000 });
    const sessionId = first.sessionId!;
    expect((await row(again)).lease_owner).toBe((await row(once)).lease_owner);

    await p.a.stop('SIGKILL');
    await waitFor(() => p.lb.ready.length === 1, { what: 'the proxy to see A gone' });
    // The same session, resumed through the proxy (which now reaches only B) by a client that
    // reconnects with its session id, as a client of a restarted server does.
    const resumed = answeringClient('tasks-2025-resumed');
    const transport = new StreamableHTTPClientTransport(new URL(`${p.lb.url}/mcp`), { sessionId });
    transport.setProtocolVersion('2025-11-25');
    await resumed.connect(transport);
    try {
      const tasks = resumed.experimental.tasks;
      const result = await tasks.getTaskResult(again, CallToolResultSchema);
      expect(result.content).toEqual([{ type: 'text', text: 'slept 3000 ms' }]);
      expect((await row(again)).attempts).toBe(2);

      await waitFor(async () => (await tasks.getTask(once)).status === 'failed', {
        what: 'the sleep_once task to fail',
        timeoutMs: DEADLINE,
        detail: logsOf(p),
      });
      await expect(tasks.getTaskResult(once, CallToolResultSchema)).rejects.toThrow(
        'The server instance that was running this task stopped before the task finished',
      );
    } finally {
      await Promise.all([onA.close(), resumed.close()]);
      await p.b.stop('SIGTERM');
    }
  });
});
