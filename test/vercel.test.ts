// The Vercel functions (api/), called in-process with web Requests the way Vercel's Node.js
// runtime calls them: no Vercel CLI, the same modules a deployment loads.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { startNeonEndpoint, type NeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { sleep } from './helpers/wait.js';
import { parseConfig } from '../src/config/index.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';

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
    await sleep(IDLE_MS + 100);

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

/**
 * A fresh copy of the function module, as a new Vercel instance loads it, with `env` as its whole
 * environment (besides the test runner's own). Its warnings and errors (console.warn and
 * console.error) are collected.
 */
async function freshInstance(env: Record<string, string>) {
  vi.resetModules();
  process.env = { ...saved, LOG_LEVEL: 'warn', ...env };
  const logged: string[] = [];
  const spies = (['warn', 'error'] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((line: unknown) => void logged.push(String(line))),
  );
  const module = (await import('../api/mcp.js')).default;
  return {
    fetch: (request: Request) => module.fetch(request),
    logged,
    done: () => {
      for (const spy of spies) spy.mockRestore();
      process.env = saved;
    },
  };
}

describe('Vercel defaults for sessions and the datasource', () => {
  let endpoint: NeonEndpoint;
  let db: TestDatabase;
  beforeAll(async () => {
    [endpoint, db] = await Promise.all([startNeonEndpoint({ postgresUrl: ADMIN_URL }), createTestDatabase('baton_vercel')]);
  });
  afterAll(async () => {
    await endpoint?.close();
    await db?.drop();
  });

  it('keeps sessions in the database when DATABASE_URL is set and SESSIONS_STORE is not', async () => {
    const instance = await freshInstance({
      BATON_TOOLSETS: 'conformance',
      DATABASE_URL: endpoint.connectionString(db.name),
      DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
    });
    try {
      const session = new RawSession(instance.fetch, `${ORIGIN}/mcp`);
      expect((await session.initialize()).status).toBe(200);
      const check = new pg.Client({ connectionString: db.url });
      await check.connect();
      const { rows } = await check.query('select id from baton.sessions where id = $1', [session.id]);
      await check.end();
      expect(rows).toHaveLength(1);
      expect(instance.logged.join('\n')).not.toContain('sessions are kept in memory');
    } finally {
      instance.done();
    }
  });

  it('takes over the tasks of an instance gone: from its cron route (answered once they ran) and from a request', async () => {
    const env = {
      BATON_TOOLSETS: 'diagnostics',
      DATABASE_URL: endpoint.connectionString(db.name),
      DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
      BATON_CONFIG_YAML: 'tasks:\n  takeover_interval: 200ms\n',
      CRON_SECRET,
    };
    const instance = await freshInstance(env);
    const cronOfInstance = (await import('../api/cron/cleanup.js')).GET;
    // Another instance's store, on the same database: it creates tasks and dies at once (a lease of 0).
    const crashed = new DatabaseSessionStore(
      await openNodeDatabase(parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }, {})),
      { ttlMs: 3_600_000, idleTimeoutMs: 3_600_000 },
    );
    const plant = (ms: number) =>
      crashed.tasks.create({
        credentialHash: '',
        tool: 'sleep',
        arguments: { ms },
        ttlMs: 3_600_000,
        rerunnable: true,
        lease: { owner: 'crashed', ms: 0 },
        caller: { principal: undefined, clientCapabilities: {}, clientInfo: { name: 'gone', version: '1' } },
      });
    try {
      expect((await instance.fetch(new Request(`${ORIGIN}/healthz`))).status).toBe(200);
      await crashed.ready();
      const byCron = await plant(300);
      const answer = await cronOfInstance(
        new Request(`${ORIGIN}/api/cron/cleanup`, { headers: { authorization: `Bearer ${CRON_SECRET}` } }),
      );
      expect(answer.status).toBe(200);
      // Answered after the re-run: the task is done when the cron is.
      expect(await crashed.tasks.get(byCron.id, 'all')).toMatchObject({ status: 'completed', attempts: 2 });

      // A request is the trigger between two crons, once the interval since the last look passed.
      const byRequest = await plant(0);
      await vi.waitFor(
        async () => {
          await (await instance.fetch(new Request(`${ORIGIN}/healthz`))).text();
          expect((await crashed.tasks.get(byRequest.id, 'all'))?.status).toBe('completed');
        },
        { timeout: 30_000, interval: 200 },
      );
    } finally {
      await crashed.close();
      instance.done();
    }
  });

  it('without DATABASE_URL, warns once, at the first request, that sessions stay in the instance and how to fix it', async () => {
    const instance = await freshInstance({ BATON_TOOLSETS: 'conformance' });
    try {
      for (let i = 0; i < 3; i++) expect((await new RawSession(instance.fetch, `${ORIGIN}/mcp`).initialize()).status).toBe(200);
      const warnings = instance.logged.filter((line) => line.includes('sessions are kept in memory'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({
        level: 'warn',
        msg: 'sessions are kept in memory and will not survive this isolate',
        runtime: 'Vercel',
        fix: expect.stringContaining('set the secret DATABASE_URL'),
      });
    } finally {
      instance.done();
    }
  });

  it('refuses a datasource to unauthenticated callers unless allowed, and says how', async () => {
    const datasource = {
      BATON_TOOLSETS: 'data',
      DATASOURCE_URL: endpoint.connectionString(db.name),
      DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
    };
    const refused = await freshInstance(datasource);
    try {
      const response = await refused.fetch(new Request(`${ORIGIN}/healthz`));
      expect(response.status).toBe(500);
      expect((await response.json()).error.message).toContain(
        'datasource.allow_unauthenticated: true (DATASOURCE_ALLOW_UNAUTHENTICATED=true)',
      );
    } finally {
      refused.done();
    }
    const key = 'vercel-key-0123456789abcdef';
    const ways: Record<string, string>[] = [
      { DATASOURCE_ALLOW_UNAUTHENTICATED: 'true' },
      { BATON_AUTH_REQUIRED: 'true', BATON_API_KEYS: key },
    ];
    for (const extra of ways) {
      const allowed = await freshInstance({ ...datasource, ...extra });
      try {
        expect((await allowed.fetch(new Request(`${ORIGIN}/healthz`))).status).toBe(200);
      } finally {
        allowed.done();
      }
    }
  });
});
