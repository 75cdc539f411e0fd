// Calls in flight across a drain, without tasks: two Node instances on one Postgres behind a
// round-robin load balancer (readiness checks), a drain (grace_period) shorter than the call, and
// SIGTERM to the instance that holds the call while the other stays up. No client may wait for its
// own timeout because an instance went away:
// - a 2025 call waiting for an elicitation (answered after the SIGTERM) continues on the other
//   instance and ends with its result;
// - a 2025 `sleep` call (a tool that may be re-run) runs again on the other instance and ends with
//   its result;
// - a 2025 call of a tool that may not be re-run ends with an error saying a restart cut it off;
// - a 2026-07-28 call gets a JSON-RPC error: 503 with Retry-After while nothing was sent, an error
//   event on its stream once it streams; never a reset connection.
// The clients' timeouts are shorter than a hang (the old behaviour) and long for a loaded machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElicitRequestSchema, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { startRoundRobinProxy, type Proxy as RoundRobinProxy } from './helpers/proxy.js';
import { connectClient } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { waitFor } from './helpers/wait.js';

/** Shorter than the 60 s a client hung for before, and long enough for a busy machine. */
const CLIENT_TIMEOUT_MS = 40_000;
/** Longer than the drain below: the call outlives its instance's grace period. */
const CALL_MS = 6_000;

const env = () => ({
  SESSIONS_STORE: 'database',
  DATABASE_URL: db.url,
  BATON_TOOLSETS: 'diagnostics,conformance',
  BATON_CONFIG_YAML: 'server:\n  shutdown:\n    pre_shutdown_delay: 300ms\n    grace_period: 2s\n',
});

let db: TestDatabase;
let lb: RoundRobinProxy;
const instances: RunningServer[] = [];
const started: RunningServer[] = [];

async function start(port?: number): Promise<RunningServer> {
  const server = await startServer(env(), port === undefined ? {} : { port });
  started.push(server);
  return server;
}

const backendOf = (server: RunningServer) => `http://127.0.0.1:${server.port}`;

/** Both instances running and routed to; a stopped one is replaced on its port. */
async function bothUp(): Promise<void> {
  for (const [slot, server] of instances.entries()) {
    // Signalled by an earlier test: gone for good before its port is taken again.
    if (server.child.killed) {
      await server.stop('SIGKILL');
      instances[slot] = await start(server.port);
    }
  }
  await waitFor(() => lb.ready.length === 2, { what: 'both instances ready behind the proxy' });
}

/** The instance the proxy passed the first POST whose body contains `marker` to. */
async function holderOf(marker: string): Promise<RunningServer> {
  const request = await waitFor(() => lb.requests.find((r) => r.method === 'POST' && r.body.includes(marker)), {
    what: `a POST carrying ${marker} through the proxy`,
  });
  return instances[request.backend]!;
}

beforeAll(async () => {
  db = await createTestDatabase('baton_handover');
  instances.push(await start(), await start());
  lb = await startRoundRobinProxy(instances.map(backendOf), { readiness: { intervalMs: 100 } });
  await bothUp();
}, 120_000);

afterAll(async () => {
  await lb?.close();
  await Promise.all(started.map((server) => server.stop('SIGKILL')));
  await db?.drop();
});

describe('a drain shorter than the call, SIGTERM to the instance that holds it', () => {
  it('2025: a sleep call (may be re-run) ends with its result, run again on the other instance', async () => {
    await bothUp();
    const { client } = await connectClient(`${lb.url}/mcp`);
    const call = client.callTool({ name: 'sleep', arguments: { ms: CALL_MS + 1 } }, undefined, { timeout: CLIENT_TIMEOUT_MS });
    const holder = await holderOf(`"ms":${CALL_MS + 1}`);
    const exited = holder.stop('SIGTERM');
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(result.content).toEqual([{ type: 'text', text: `slept ${CALL_MS + 1} ms` }]);
    expect(await exited).toBe(0);
    expect(holder.logs.join('')).toContain('call handed over');
    await client.close();
  }, 90_000);

  it('2025: a call waiting for an elicitation continues on the other instance with the answer given after the SIGTERM', async () => {
    await bothUp();
    const { client } = await connectClient(`${lb.url}/mcp`, { capabilities: { elicitation: {} } });
    let asked = 0;
    let answer!: (result: ElicitResult) => void;
    client.setRequestHandler(ElicitRequestSchema, () => {
      asked++;
      return new Promise<ElicitResult>((resolve) => (answer = resolve));
    });
    const call = client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } }, undefined, {
      timeout: CLIENT_TIMEOUT_MS,
    });
    await waitFor(() => asked === 1, { what: 'the elicitation to reach the client' });
    const holder = await holderOf('test_elicitation');
    // Answered once its instance is gone: the answer can only be taken by the other one.
    expect(await holder.stop('SIGTERM')).toBe(0);
    answer({ action: 'accept', content: { username: 'ada', email: 'ada@example.com' } });
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(JSON.stringify(result.content)).toContain('ada');
    // The user was asked once: the continuation took the answer to the question already shown.
    expect(asked).toBe(1);
    expect(holder.logs.join('')).toContain('call handed over');
    await client.close();
  }, 90_000);

  it('2025: a call of a tool that may not be re-run ends with an error saying a restart cut it off', async () => {
    await bothUp();
    const { client } = await connectClient(`${lb.url}/mcp`);
    const call = client.callTool({ name: 'sleep_once', arguments: { ms: CALL_MS + 2 } }, undefined, {
      timeout: CLIENT_TIMEOUT_MS,
    });
    const holder = await holderOf(`"ms":${CALL_MS + 2}`);
    const exited = holder.stop('SIGTERM');
    await expect(call).rejects.toThrow(/restart/);
    expect(await exited).toBe(0);
    await client.close();
  }, 90_000);

  it('2026-07-28: a call gets 503 with Retry-After while nothing was sent, never a reset connection', async () => {
    await bothUp();
    const request = modernRequest(`${lb.url}/mcp`, 'tools/call', { name: 'sleep', arguments: { ms: CALL_MS + 3 } });
    const id = (JSON.parse(await request.clone().text()) as { id: number }).id;
    const response = fetch(request);
    const holder = await holderOf(`"ms":${CALL_MS + 3}`);
    const exited = holder.stop('SIGTERM');
    const answer = await response;
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    const body = (await answer.json()) as { id: unknown; error: { code: number; message: string } };
    expect(body.id).toBe(id);
    expect(body.error.message).toMatch(/restart/);
    expect(await exited).toBe(0);
  }, 90_000);

  it('2026-07-28: a call that already streams (progress) ends with a JSON-RPC error event on its stream', async () => {
    await bothUp();
    const request = modernRequest(`${lb.url}/mcp`, 'tools/call', {
      name: 'sleep',
      arguments: { ms: CALL_MS + 4 },
      _meta: { progressToken: 'p1' },
    });
    const id = (JSON.parse(await request.clone().text()) as { id: number }).id;
    const response = await fetch(request);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const holder = await holderOf(`"ms":${CALL_MS + 4}`);
    const exited = holder.stop('SIGTERM');
    const text = await response.text();
    const events = text
      .split('\n')
      .filter((line) => line.startsWith('data: ') && line.length > 6)
      .map((line) => JSON.parse(line.slice(6)) as { id?: unknown; error?: { message: string } });
    const last = events.at(-1);
    expect(last?.id).toBe(id);
    expect(last?.error?.message).toMatch(/restart/);
    expect(await exited).toBe(0);
  }, 90_000);
});
