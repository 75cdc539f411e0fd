// The Vercel functions (api/), called in-process with web Requests the way Vercel's Node.js
// runtime calls them: no Vercel CLI, the same modules a deployment loads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSession, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';

const ORIGIN = 'https://mcp-baton.example.vercel.app';
const CRON_SECRET = 'test-cron-secret-0123456789';
// Short enough that the cron test can see a session go idle and be removed.
const IDLE_MS = 2_000;
const saved = { ...process.env };

let mcp: { fetch(request: Request): Promise<Response> };
let cleanup: (request: Request) => Promise<Response>;

beforeAll(async () => {
  Object.assign(process.env, {
    BATON_TOOLSETS: 'conformance',
    CRON_SECRET,
    SESSIONS_STORE: 'memory',
    SESSIONS_IDLE_TIMEOUT: `${IDLE_MS / 1000}s`,
    LOG_LEVEL: 'error',
  });
  // Both modules read the environment when imported and when the platform is first built.
  mcp = (await import('../api/mcp.js')).default;
  cleanup = (await import('../api/cron/cleanup.js')).GET;
});

afterAll(() => {
  process.env = saved;
});

const cron = (authorization?: string) =>
  cleanup(new Request(`${ORIGIN}/api/cron/cleanup`, authorization === undefined ? {} : { headers: { authorization } }));

describe('Vercel entry with a configuration error', () => {
  it('answers 500 naming the problem, and starts once the configuration is fixed', async () => {
    process.env.SESSIONS_TTL = 'soon';
    try {
      const broken = await mcp.fetch(new Request(`${ORIGIN}/healthz`));
      expect(broken.status).toBe(500);
      const body = await broken.json();
      expect(body.error.code).toBe(-32603);
      expect(body.error.message).toContain('SESSIONS_TTL');
    } finally {
      delete process.env.SESSIONS_TTL;
    }
    // The failed start was not cached: the next request builds the platform again.
    expect((await mcp.fetch(new Request(`${ORIGIN}/healthz`))).status).toBe(200);
  });
});

describe('Vercel MCP function', () => {
  it('answers /healthz and /readyz', async () => {
    const health = await mcp.fetch(new Request(`${ORIGIN}/healthz`));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await mcp.fetch(new Request(`${ORIGIN}/readyz`))).status).toBe(200);
  });

  it('initializes a session on its own domain and calls a tool in it', async () => {
    const session = new RawSession((request) => mcp.fetch(request), `${ORIGIN}/mcp`);
    const init = await session.initialize();
    expect(init.status).toBe(200);
    expect(session.id).toMatch(/^[\x21-\x7e]{22,}$/);
    const [initialized] = await readMessages(init);
    expect(initialized.result.serverInfo.name).toBe('mcp-baton');
    expect((await session.notify('notifications/initialized')).status).toBe(202);

    const { status, result } = await session.callTool('test_simple_text');
    expect(status).toBe(200);
    expect(result.content).toEqual([{ type: 'text', text: 'This is a simple text response for testing.' }]);
  });
});

describe('Vercel cron function', () => {
  it('refuses a request without the secret', async () => {
    const response = await cron();
    expect(response.status).toBe(401);
    expect((await response.json()).error.message).toContain('Unauthorized');
  });

  it('refuses a wrong secret', async () => {
    const response = await cron('Bearer not-the-secret');
    expect(response.status).toBe(401);
    expect((await response.json()).jsonrpc).toBe('2.0');
  });

  it('runs the cleanup with the right secret and answers its report', async () => {
    const session = new RawSession((request) => mcp.fetch(request), `${ORIGIN}/mcp`);
    await session.initialize();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS + 100));

    const response = await cron(`Bearer ${CRON_SECRET}`);
    expect(response.status).toBe(200);
    const report = await response.json();
    expect(report.removed).toBeGreaterThanOrEqual(1);
    expect(report).toMatchObject({ batches: 1, truncated: false });
    expect(typeof report.durationMs).toBe('number');
    // The idle session is gone, not merely refused.
    expect((await session.request('tools/list')).status).toBe(404);
  });

  it('answers 500 when CRON_SECRET is not configured', async () => {
    delete process.env.CRON_SECRET;
    try {
      const response = await cron(`Bearer ${CRON_SECRET}`);
      expect(response.status).toBe(500);
      expect((await response.json()).error.message).toContain('CRON_SECRET must be set');
    } finally {
      process.env.CRON_SECRET = CRON_SECRET;
    }
  });
});

describe('Vercel entry, 2026-07-28 requests', () => {
  it('answers server/discover and a two-round call whose sealed state comes back', async () => {
    const discover = (await readMessages(await mcp.fetch(modernRequest(`${ORIGIN}/mcp`, 'server/discover'))))[0];
    expect(discover.result.supportedVersions).toContain('2026-07-28');
    const tool = 'test_input_required_result_request_state';
    const first = (await readMessages(await mcp.fetch(modernRequest(`${ORIGIN}/mcp`, 'tools/call', { name: tool, arguments: {} }))))[0];
    expect(first.result).toMatchObject({ resultType: 'input_required' });
    const params = { name: tool, arguments: {}, inputResponses: { confirm: { action: 'accept', content: { ok: true } } } };
    const second = (
      await readMessages(
        await mcp.fetch(modernRequest(`${ORIGIN}/mcp`, 'tools/call', { ...params, requestState: first.result.requestState })),
      )
    )[0];
    expect(second.result.content[0].text).toMatch(/^state-ok/);
  });
});
