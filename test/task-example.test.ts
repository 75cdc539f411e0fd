// The example of docs/toolsets.md ("A tool that becomes a task", test/fixtures/export-month.ts)
// run as a task on two platforms sharing a pg database, as a 2026-07-28 client declaring the tasks
// extension would: it asks for input inside the task, is answered on the other instance and
// completes; a cancel sent to one instance stops its handler on the other; a client without the
// extension is answered in the request. And the page shows exactly the code that ran.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { exportsToolset } from './fixtures/export-month.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { ROOT } from './helpers/server.js';

const SETTLED = { timeout: 30_000, interval: 50 };
const ACCEPT = { confirm: { action: 'accept', content: { confirm: true } } };

let db: TestDatabase;
let a: Platform;
let b: Platform;

beforeAll(async () => {
  db = await createTestDatabase('baton_task_example');
  const open = () =>
    createPlatform(parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }, {}), {
      logger: createLogger('error'),
      openDatabase: openNodeDatabase,
      toolsets: [exportsToolset],
    });
  [a, b] = await Promise.all([open(), open()]);
  await Promise.all([a.store.ready?.(), b.store.ready?.()]);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
});

async function send(p: Platform, method: string, params: Record<string, unknown>, tasks = true) {
  const capabilities = { elicitation: { form: {} }, ...(tasks && { extensions: { 'io.modelcontextprotocol/tasks': {} } }) };
  const headers: Record<string, string> = typeof params.taskId === 'string' ? { 'mcp-name': params.taskId } : {};
  const request = modernRequest(
    'http://127.0.0.1/mcp',
    method,
    { ...params, _meta: { 'io.modelcontextprotocol/clientCapabilities': capabilities } },
    headers,
  );
  const [message] = await readMessages(await p.app.fetch(request));
  return message;
}

const status = async (p: Platform, taskId: string) => (await send(p, 'tasks/get', { taskId })).result;

async function exportAsTask(p: Platform, msPerDay: number): Promise<string> {
  const { result } = await send(p, 'tools/call', { name: 'export_month', arguments: { month: '2026-05', msPerDay } });
  expect(result).toMatchObject({ resultType: 'task', status: 'working' });
  // The handler asks first: the task waits for the answer, holding nothing anywhere.
  await vi.waitFor(async () => expect((await status(b, result.taskId)).status).toBe('input_required'), SETTLED);
  return result.taskId;
}

describe('the example tool of docs/toolsets.md', () => {
  it('is on the page exactly as it runs here', () => {
    const page = readFileSync(join(ROOT, 'docs/toolsets.md'), 'utf8');
    const block = page.split('```').find((part) => part.startsWith('ts\n') && part.includes("name: 'export_month'"));
    const source = readFileSync(join(ROOT, 'test/fixtures/export-month.ts'), 'utf8');
    const code = source.slice(source.indexOf('\nimport ') + 1).replace("'../../src/api/index.js'", "'mcp-baton'");
    expect(block?.slice('ts\n'.length)).toBe(code);
  });

  it('asks for input inside its task, is answered on another instance, and completes', async () => {
    const taskId = await exportAsTask(a, 0);
    const waiting = await status(b, taskId);
    expect(waiting.inputRequests.confirm).toMatchObject({ method: 'elicitation/create', params: { message: 'Export 2026-05?' } });
    expect(a.tasks.running).not.toContain(taskId);
    expect((await send(b, 'tasks/update', { taskId, inputResponses: ACCEPT })).result).toMatchObject({ resultType: 'complete' });
    await vi.waitFor(async () => expect((await status(a, taskId)).status).toBe('completed'), SETTLED);
    expect((await status(a, taskId)).result.content).toEqual([{ type: 'text', text: 'Exported 2026-05: 30 days.' }]);
    expect((await a.store.tasks.get(taskId, 'all'))?.rerunnable).toBe(true);

    const declined = await exportAsTask(a, 0);
    await send(a, 'tasks/update', { taskId: declined, inputResponses: { confirm: { action: 'accept', content: { confirm: false } } } });
    await vi.waitFor(async () => expect((await status(b, declined)).status).toBe('completed'), SETTLED);
    expect((await status(b, declined)).result.content[0].text).toBe('Nothing exported for 2026-05.');
  });

  it('stops where it runs when the task is cancelled on another instance (ctx.signal)', async () => {
    // 30 days of a second each: it would run half a minute.
    const taskId = await exportAsTask(b, 1000);
    await send(a, 'tasks/update', { taskId, inputResponses: ACCEPT });
    expect(a.tasks.running).toContain(taskId);
    expect((await send(b, 'tasks/cancel', { taskId })).result).toMatchObject({ resultType: 'complete' });
    await vi.waitFor(() => expect(a.tasks.running).not.toContain(taskId), SETTLED);
    const cancelled = await status(a, taskId);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled).not.toHaveProperty('result');
  });

  it('answers in the request a client that does not declare the tasks extension (support: optional)', async () => {
    const call = { name: 'export_month', arguments: { month: '2026-05', msPerDay: 0 } };
    const asked = await send(a, 'tools/call', call, false);
    expect(asked.result).toMatchObject({ resultType: 'input_required', inputRequests: { confirm: { method: 'elicitation/create' } } });
    const done = await send(b, 'tools/call', { ...call, inputResponses: ACCEPT }, false);
    expect(done.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'Exported 2026-05: 30 days.' }] });
  });
});
