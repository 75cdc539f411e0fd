// Tasks on Workers: two Workers in workerd (two `wrangler dev` processes, two isolates that share
// nothing but the database, over neon-http). A task created through one runs there after its
// response has left (its run is handed to the request's waitUntil) and is polled to its result
// through the other; a task resumed by tasks/update runs on the Worker that took the answer, after
// that answer's response; a 2025 session's task runs the same way. The Worker is
// test/fixtures/worker-tasks: createWorker with one more tool.
import { join } from 'node:path';
import pg from 'pg';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { answeringClient, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { ROOT } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { startWrangler, type RunningWorker } from './helpers/wrangler.js';

const TASKS = { 'io.modelcontextprotocol/tasks': {} };

let db: TestDatabase;
let endpoint: Awaited<ReturnType<typeof startNeonEndpoint>>;
let a: RunningWorker;
let b: RunningWorker;

beforeAll(async () => {
  db = await createTestDatabase('baton_worker_tasks');
  endpoint = await startNeonEndpoint({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres' });
  const vars = {
    BATON_TOOLSETS: 'conformance,diagnostics',
    DATABASE_URL: endpoint.connectionString(db.name),
    DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
  };
  const cwd = join(ROOT, 'test/fixtures/worker-tasks');
  // One after the other: both would run the migrations at once otherwise (safe, but slower).
  a = await startWrangler({ vars, cwd });
  b = await startWrangler({ vars, cwd });
}, 90_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await endpoint?.close();
  await db?.drop();
});

/** One 2026-07-28 request that declares the tasks extension, and its JSON-RPC answer. */
async function send(worker: RunningWorker, method: string, params: Record<string, unknown>) {
  const taskId: Record<string, string> = typeof params.taskId === 'string' ? { 'mcp-name': params.taskId } : {};
  const request = modernRequest(
    worker.url,
    method,
    { ...params, _meta: { 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} }, extensions: TASKS } } },
    taskId,
  );
  const [message] = await readMessages(await fetch(request));
  return message;
}

/** Polls tasks/get on a Worker until the task leaves `working`; its last answer. */
function settled(worker: RunningWorker, taskId: string, other: RunningWorker) {
  return waitFor(
    async () => {
      const { result } = await send(worker, 'tasks/get', { taskId });
      return result.status === 'working' ? undefined : result;
    },
    { what: `task ${taskId} to leave working`, timeoutMs: 60_000, intervalMs: 200, detail: () => other.logs.join('') },
  );
}

it('runs a task created through one Worker after the response, and another Worker polls it to its result', async () => {
  const { result: created } = await send(a, 'tools/call', { name: 'sleep', arguments: { ms: 1_500 } });
  expect(created).toMatchObject({ resultType: 'task', status: 'working' });
  // The response has left; the sleep (and the statement that records its outcome) runs on in A.
  const done = await settled(b, created.taskId, a);
  expect(done).toMatchObject({ status: 'completed', result: { content: [{ type: 'text', text: 'slept 1500 ms' }] } });
  expect(a.logs.join('')).not.toMatch(/waitUntil|different request|could not record/);
}, 120_000);

it('runs a task resumed by tasks/update on the Worker that took the answer, after that response', async () => {
  const { result: created } = await send(a, 'tools/call', { name: 'confirm_then_wait', arguments: { ms: 1_500 } });
  expect(created).toMatchObject({ resultType: 'task' });
  const asking = await settled(b, created.taskId, a);
  expect(asking).toMatchObject({ status: 'input_required', inputRequests: { go: expect.any(Object) } });
  const update = await send(b, 'tasks/update', {
    taskId: created.taskId,
    inputResponses: { go: { action: 'accept', content: { go: true } } },
  });
  expect(update.error).toBeUndefined();
  // B answered before the handler's wait ended; the handler goes on in B and A reads its result.
  const done = await settled(a, created.taskId, b);
  expect(done).toMatchObject({
    status: 'completed',
    result: { content: [{ type: 'text', text: 'waited 1500 ms after the confirmation' }] },
  });
  expect(b.logs.join('')).not.toMatch(/waitUntil|different request|could not record/);
}, 120_000);

it("runs a 2025 session's task (2025-11-25 experimental tasks) after the response, and another Worker reads its result", async () => {
  // The session is opened on A, its task created there; B serves the same session from the store.
  const onA = answeringClient('worker-tasks-2025');
  const first = new StreamableHTTPClientTransport(new URL(a.url));
  await onA.connect(first);
  const { task } = await onA.request(
    { method: 'tools/call', params: { name: 'sleep', arguments: { ms: 1_500 }, task: {} } },
    CreateTaskResultSchema,
  );
  expect(task.status).toBe('working');
  const onB = answeringClient('worker-tasks-2025-b');
  const resumed = new StreamableHTTPClientTransport(new URL(b.url), { sessionId: first.sessionId! });
  resumed.setProtocolVersion('2025-11-25');
  await onB.connect(resumed);
  try {
    await waitFor(async () => (await onB.experimental.tasks.getTask(task.taskId)).status === 'completed', {
      what: `task ${task.taskId} to complete`,
      timeoutMs: 60_000,
      intervalMs: 200,
      detail: () => a.logs.join(''),
    });
    const result = await onB.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.content).toEqual([{ type: 'text', text: 'slept 1500 ms' }]);
    // Run once, on A, under its request's waitUntil: not taken over after its lease ran out (which
    // would also complete it, a lease later, as attempt 2).
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      const { rows } = await check.query('select attempts from baton.tasks where id = $1', [task.taskId]);
      expect(rows[0]).toEqual({ attempts: 1 });
    } finally {
      await check.end();
    }
  } finally {
    await Promise.all([onA.close(), onB.close()]);
  }
}, 120_000);
