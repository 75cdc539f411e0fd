// The Worker entry in the real Workers runtime (workerd, through `wrangler dev`): the SDK client
// against it, the session rule for requests without a session, and the cron trigger.
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveProcesses, startWrangler, type RunningWorker } from './helpers/wrangler.js';
import { connectClient, postJson } from './helpers/mcp.js';
import { connectModernClient } from './helpers/modern.js';
import { sleep, waitFor } from './helpers/wait.js';

// Short enough that the cron test can see the client's session go idle and be removed.
const IDLE_MS = 2_000;
let worker: RunningWorker;
/** The same Worker with a configuration error (an invalid duration). */
let broken: RunningWorker;
/** The same Worker given a plain Postgres URL, which neon-http cannot reach. */
let plainPostgres: RunningWorker;

beforeAll(async () => {
  // Started together: each start costs seconds.
  [worker, broken, plainPostgres] = await Promise.all([
    startWrangler({ vars: { BATON_TOOLSETS: 'conformance', SESSIONS_IDLE_TIMEOUT: `${IDLE_MS / 1000}s` } }),
    startWrangler({ vars: { SESSIONS_TTL: 'soon' } }),
    startWrangler({ vars: { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/app' } }),
  ]);
});

afterAll(async () => {
  await Promise.all([worker?.stop(), broken?.stop(), plainPostgres?.stop()]);
});

/**
 * Worker output reaches wrangler's after the response; waits for the first line matching. The
 * bound is only there to name what was missing: a loaded machine may take seconds to pass it on.
 */
function waitForLog(running: RunningWorker, pattern: RegExp): Promise<string> {
  const line = () =>
    running.logs
      .join('')
      .split('\n')
      .find((l) => pattern.test(l));
  return waitFor(line, { what: `a log line matching ${pattern}`, timeoutMs: 60_000, intervalMs: 100, detail: () => running.logs.join('') });
}

describe('Worker entry in workerd', () => {
  it('serves the SDK client: initialize, list tools, call a tool', async () => {
    const { client, transport } = await connectClient(worker.url);
    expect(transport.sessionId).toMatch(/^[\x21-\x7e]{22,}$/);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('test_simple_text');

    const result = await client.callTool({ name: 'test_simple_text', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'This is a simple text response for testing.' }]);
    await client.close();
  });

  it('serves the SDK v2 client pinned to 2026-07-28: two input rounds, the state sealed between them', async () => {
    const asked: string[] = [];
    const { client } = await connectModernClient(worker.url, {
      onElicit: (message) => {
        asked.push(message);
        const content: Record<string, string> = message.includes('name') ? { name: 'ada' } : { color: 'teal' };
        return { action: 'accept', content };
      },
    });
    expect(client.getProtocolEra()).toBe('modern');
    const result = await client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'Multi-round complete: ada likes teal' }]);
    expect(asked).toEqual(['Step 1: What is your name?', 'Step 2: What is your favorite color?']);
    await client.close();
  });

  it('answers 400 to a request without a session id', async () => {
    const response = await postJson(worker.url, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    expect(response.status).toBe(400);
    expect((await response.json()).jsonrpc).toBe('2.0');
  });

  it('warns once, at the first request, that sessions in memory do not survive the isolate, and how to fix it', async () => {
    // Requests were served above; the platform was built at the first of them.
    expect((await postJson(worker.url, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })).status).toBe(400);
    const line = await waitForLog(worker, /"msg":"sessions are kept in memory/);
    // wrangler may print more on the line after the Worker's JSON.
    expect(JSON.parse(line.slice(line.indexOf('{'), line.lastIndexOf('}') + 1))).toMatchObject({
      level: 'warn',
      runtime: 'Cloudflare Workers',
      fix: expect.stringContaining('set the secret DATABASE_URL'),
    });
    expect(worker.logs.join('').split('sessions are kept in memory').length - 1).toBe(1);
    // A warning is printed as one (console.warn), not under wrangler's coloured "✘ [ERROR]" mark.
    expect(stripVTControlCharacters(line)).not.toContain('[ERROR]');
  });

  it('runs the store cleanup from the cron trigger and logs its report', async () => {
    // The SDK client's session (first test) goes idle; the cron run must find it in the store
    // the fetch handler used, i.e. the one platform of the isolate.
    await sleep(IDLE_MS + 100);
    const response = await fetch(`http://127.0.0.1:${worker.port}/__scheduled?cron=*+*+*+*+*`);
    expect(response.status).toBe(200);
    await response.text();
    const line = await waitForLog(worker, /"msg":"cleanup"/);
    const report = JSON.parse(line.slice(line.indexOf('{')));
    expect(report).toMatchObject({ level: 'info', cron: '* * * * *', batches: 1, truncated: false });
    expect(report.removed).toBeGreaterThanOrEqual(1);
    expect(typeof report.durationMs).toBe('number');
  });
});

describe('Worker entry with a configuration error', () => {
  it('answers every request with a 500 JSON-RPC error naming the problem', async () => {
    for (const path of ['/healthz', '/mcp']) {
      const response = await fetch(`http://127.0.0.1:${broken.port}${path}`);
      expect(response.status).toBe(500);
      const body = await response.json();
      expect(body.error.code).toBe(-32603);
      expect(body.error.message).toContain('SESSIONS_TTL');
    }
    const line = await waitForLog(broken, /"msg":"platform failed to start"/);
    expect(line).toContain('SESSIONS_TTL');
    // A failed start is not cached: each request tried again (and logged why it failed).
    await expect.poll(() => broken.logs.join('').split('platform failed to start').length - 1).toBeGreaterThanOrEqual(2);
  });

  it('a plain Postgres URL: not ready, and every answer says that neon-http needs a Neon URL or an endpoint', async () => {
    for (const path of ['/readyz', '/mcp']) {
      const response = await fetch(`http://127.0.0.1:${plainPostgres.port}${path}`, { method: path === '/mcp' ? 'POST' : 'GET' });
      expect(response.status).not.toBe(200);
      const message = (await response.json()).error.message as string;
      expect(message).toContain('DATABASE_URL (environment)');
      expect(message).toContain('https://api.0.0.1/sql');
      expect(message).toContain('DATABASE_HTTP_ENDPOINT');
      expect(message).not.toContain('check that Postgres is running');
    }
  });

  it('leaves no workerd (or anything else wrangler started) behind after stop', async () => {
    await broken.stop();
    expect(liveProcesses(broken.pid)).toBe('');
  });
});
