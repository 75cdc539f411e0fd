// The data toolset where there is no Node server: the edge opener (Workers, Vercel) in this
// process, then the Worker itself in workerd, without a datasource and with one reached through
// the local Neon endpoint (neon-http, read-only batches), next to the database session store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform } from '../src/platform/platform.js';
import { openEdgeDatasource } from '../src/tools/data/open-edge.js';
import { startNeonEndpoint, type NeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startWrangler, type RunningWorker } from './helpers/wrangler.js';
import { connectClient, RawSession } from './helpers/mcp.js';
import { createShopDatabase, SECRET_STATE } from './data-fixtures.js';

const quiet = createLogger('error');
const NEEDS_DATASOURCE = /need a datasource on this runtime: set datasource\.dsn \(environment variable DATASOURCE_URL\)/;

describe('edge opener, in process', () => {
  it('without a DSN the platform starts and the data tools say a datasource is needed', async () => {
    const platform = await createPlatform(parseConfig({}, {}), { logger: quiet, openDatasource: openEdgeDatasource });
    try {
      const session = new RawSession((r) => platform.app.fetch(r));
      await session.initialize();
      const listed = await session.request('tools/list');
      expect(listed.messages[0].result.tools.map((t: { name: string }) => t.name).sort()).toEqual([
        'describe_table',
        'list_tables',
        'query',
      ]);
      for (const [tool, args] of [
        ['list_tables', {}],
        ['describe_table', { table: 'orders' }],
        ['query', { sql: 'select 1' }],
      ] as const) {
        const { result } = await session.callTool(tool, args);
        expect(result.isError, tool).toBe(true);
        expect(result.content[0].text, tool).toMatch(NEEDS_DATASOURCE);
      }
    } finally {
      await platform.close();
    }
  });

  it('a datasource for callers nobody authenticated stops start-up, saying how to allow it or require credentials', async () => {
    const dsn = 'postgres://u@example.com/db';
    await expect(
      createPlatform(parseConfig({ datasource: { dsn } }, {}), { logger: quiet, openDatasource: openEdgeDatasource }),
    ).rejects.toThrow(
      /datasource\.dsn: on Workers and Vercel the datasource is refused to callers nobody authenticated.*auth\.required: true.*datasource\.allow_unauthenticated: true \(DATASOURCE_ALLOW_UNAUTHENTICATED=true\)/,
    );
    // Either way out works: credentials required, or the explicit setting.
    const key = 'edge-key-0123456789abcdef';
    for (const raw of [
      { datasource: { dsn }, auth: { required: true, api_keys: [key] } },
      { datasource: { dsn, allow_unauthenticated: true } },
    ]) {
      const platform = await createPlatform(parseConfig(raw, {}), { logger: quiet, openDatasource: openEdgeDatasource });
      await platform.close();
    }
  });

  it('a catalog file setting stops start-up, naming the key', async () => {
    const config = parseConfig(
      { datasource: { dsn: 'postgres://u@example.com/db', catalog: 'catalog.yaml', allow_unauthenticated: true } },
      {},
    );
    await expect(createPlatform(config, { logger: quiet, openDatasource: openEdgeDatasource })).rejects.toThrow(
      /datasource\.catalog: catalog files are read by the Node server only/,
    );
  });
});

describe('the Worker in workerd', () => {
  let worker: RunningWorker | undefined;
  let endpoint: NeonEndpoint;
  let sessionsDb: TestDatabase;
  let shop: TestDatabase;

  beforeAll(async () => {
    [endpoint, sessionsDb, shop] = await Promise.all([
      startNeonEndpoint({ postgresUrl: ADMIN_URL }),
      createTestDatabase('baton_edge_sessions'),
      createShopDatabase('baton_edge_shop'),
    ]);
  });

  afterAll(async () => {
    await worker?.stop();
    await endpoint?.close();
    await Promise.all([sessionsDb?.drop(), shop?.drop()]);
  });

  it('a datasource without authentication: every request answers 500 saying how to allow it or require credentials', async () => {
    worker = await startWrangler({ vars: { BATON_TOOLSETS: '', DATASOURCE_URL: endpoint.connectionString(shop.name) } });
    try {
      const response = await fetch(`http://127.0.0.1:${worker.port}/healthz`);
      expect(response.status).toBe(500);
      const { error } = await response.json();
      // The problem is named by the variable that set the key (DATASOURCE_URL here).
      expect(error.message).toContain(
        'DATASOURCE_URL (environment): on Workers and Vercel the datasource is refused to callers nobody authenticated',
      );
      expect(error.message).toContain('datasource.allow_unauthenticated: true (DATASOURCE_ALLOW_UNAUTHENTICATED=true)');
    } finally {
      await worker.stop();
      worker = undefined;
    }
  });

  it('default toolsets, no datasource: the Worker runs and the data tools say what is missing', async () => {
    worker = await startWrangler({ vars: { BATON_TOOLSETS: '' } });
    const { client } = await connectClient(worker.url);
    const result = await client.callTool({ name: 'list_tables', arguments: {} });
    expect(result.isError).toBe(true);
    expect((result.content as { text: string }[])[0]!.text).toMatch(NEEDS_DATASOURCE);
    await client.close();
    await worker.stop();
    worker = undefined;
  });

  it('a datasource by DSN over neon-http: query in read-only batches, the platform schema refused, context sent once', async () => {
    worker = await startWrangler({
      vars: {
        BATON_TOOLSETS: '',
        SESSIONS_STORE: 'database',
        DATABASE_URL: endpoint.connectionString(sessionsDb.name),
        DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
        DATASOURCE_URL: endpoint.connectionString(shop.name),
        DATASOURCE_ALLOW_UNAUTHENTICATED: 'true',
        // Short, so that the timeout test below is quick.
        BATON_CONFIG_YAML: '{datasource: {statement_timeout: 1s}}',
      },
    });
    const { client } = await connectClient(worker.url);
    const call = async (name: string, args: Record<string, unknown>) => {
      const result = await client.callTool({ name, arguments: args });
      return { isError: result.isError, blocks: (result.content as { text: string }[]).map((c) => c.text) };
    };
    const first = await call('query', { sql: "select count(*) as paid from orders where status = 'paid'" });
    expect(first.isError).toBeFalsy();
    expect(first.blocks[0]).toBe('1 row.\n\n| paid |\n| --- |\n| 13 |');
    expect(first.blocks[1]).toMatch(/^semantic_context: public\.orders\ndescription: One row per checkout/);
    const second = await call('describe_table', { table: 'orders' });
    expect(second.blocks.slice(1)).toEqual(['semantic_context: public.orders (sent earlier in this session; not repeated)']);

    for (const sql of [
      'select * from baton.sessions',
      'select * from session_peek',
      "select nextval('ticket_seq')",
      'select 1; select 2',
    ]) {
      const refused = await call('query', { sql });
      expect(refused.isError, sql).toBe(true);
      expect(refused.blocks[0], sql).toMatch(/^Refused: /);
      expect(JSON.stringify(refused.blocks)).not.toContain(SECRET_STATE);
    }
    const slow = await call('query', { sql: 'select count(*) from generate_series(1, 10000000000)' });
    expect(slow.blocks[0]).toMatch(/ran longer than the statement timeout \(1s/);
    await client.close();
  });
});
