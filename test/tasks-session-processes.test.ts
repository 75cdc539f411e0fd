// The 2025-11-25 tasks of a 2025 session through two real Node processes on one Postgres behind a
// round-robin proxy, with the SDK v1 client's experimental task API: each request may land on
// either process, so a task is created on one and read, waited for, answered and cancelled on
// whichever the proxy picks next. The proxy's log proves that both answered for one task.
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { answeringClient } from './helpers/mcp.js';
import { type Proxy as RoundRobin, startRoundRobinProxy } from './helpers/proxy.js';
import { type RunningServer, startServer } from './helpers/server.js';

let db: TestDatabase;
const servers: RunningServer[] = [];
let proxy: RoundRobin;

beforeAll(async () => {
  db = await createTestDatabase('baton_tasks_session_processes');
  const env = { BATON_TOOLSETS: 'diagnostics,conformance', SESSIONS_STORE: 'database', DATABASE_URL: db.url };
  servers.push(await startServer(env), await startServer(env));
  proxy = await startRoundRobinProxy(servers.map((s) => `http://127.0.0.1:${s.port}`));
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  await db?.drop();
});

/** The backends that served requests of `method` about the task. */
function backendsOf(method: string, taskId: string): Set<number> {
  return new Set(
    proxy.requests
      .filter((r) => r.method === 'POST' && r.body.includes(`"method":"${method}"`) && r.body.includes(taskId))
      .map((r) => r.backend),
  );
}

describe('2025-11-25 tasks through two Node processes behind a round-robin proxy', () => {
  it('creates, polls, waits for, answers and cancels tasks on whichever process a request reaches', async () => {
    const client = answeringClient('tasks-any-instance');
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { confirm: true } }));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/mcp`)));
    try {
      const tasks = client.experimental.tasks;
      const create = async (name: string, args: Record<string, unknown>) =>
        (await client.request({ method: 'tools/call', params: { name, arguments: args, task: {} } }, CreateTaskResultSchema)).task.taskId;

      const long = await create('sleep', { ms: 60_000 });
      // Polled a few times: both processes answer, from the one record.
      for (let i = 0; i < 4; i++) expect((await tasks.getTask(long)).status).toBe('working');
      expect(backendsOf('tasks/get', long)).toEqual(new Set([0, 1]));

      const short = await create('sleep', { ms: 200 });
      const result = await tasks.getTaskResult(short, CallToolResultSchema);
      expect(result.content).toEqual([{ type: 'text', text: 'slept 200 ms' }]);

      const asking = await create('confirm_delete', { filename: 'x.txt' });
      const answered = await tasks.getTaskResult(asking, CallToolResultSchema);
      expect(answered.content).toEqual([{ type: 'text', text: 'deleted x.txt' }]);

      expect((await tasks.cancelTask(long)).status).toBe('cancelled');
      for (let i = 0; i < 2; i++) expect((await tasks.getTask(long)).status).toBe('cancelled');
    } finally {
      await client.close();
    }
  }, 120_000);
});
