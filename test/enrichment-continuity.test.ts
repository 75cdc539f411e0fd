// The data toolset and its enrichment on the real Node server, driven by the MCP SDK's client:
// `npm start` with no configuration (the embedded demo dataset), then the database store, where
// what a session was sent survives SIGKILL and is shared by instances behind a round-robin proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { startRoundRobinProxy } from './helpers/proxy.js';
import { connectClient } from './helpers/mcp.js';
import { createShopDatabase } from './data-fixtures.js';

const running: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop('SIGKILL')));
});

async function start(env: Record<string, string>, port?: number): Promise<RunningServer> {
  const server = await startServer(env, port ? { port } : {});
  running.push(server);
  return server;
}

async function blocks(client: Client, name: string, args: Record<string, unknown>): Promise<string[]> {
  const result = await client.callTool({ name, arguments: args });
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return (result.content as { text: string }[]).map((c) => c.text);
}

const REFERENCE = (table: string) => `semantic_context: ${table} (sent earlier in this session; not repeated)`;
const isFull = (block: string | undefined, table: string) => block?.startsWith(`semantic_context: ${table}\ndescription: `) ?? false;

describe('npm start with no configuration', () => {
  it('serves the demo dataset: list_tables, describe_table, query; a second describe_table carries a reference', async () => {
    // Blank overrides count as unset: nothing reaches the server but its port.
    const server = await start({ BATON_TOOLSETS: '', SESSIONS_STORE: '', DATABASE_URL: '', DATASOURCE_URL: '' });
    const { client } = await connectClient(server.url);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['describe_table', 'list_tables', 'query']);

      const [listed] = await blocks(client, 'list_tables', {});
      expect(listed).toContain('orders (table, ~80 rows) — One row per checkout.');
      expect(listed).toMatch(/legacy_orders \(table, ~30 rows\) DEPRECATED: /);

      const first = await blocks(client, 'describe_table', { table: 'orders' });
      expect(first[0]).toMatch(/^public\.orders \(table, ~80 rows\)\n/);
      expect(first[0]).toContain('| status | text | no |  | pending (awaiting payment), paid, shipped, or cancelled. |');
      expect(isFull(first[1], 'public.orders')).toBe(true);
      expect(first[1]).toContain('owner: sales-data');
      expect(first[1]).toContain('revenue: Sum of total_cents');

      const second = await blocks(client, 'describe_table', { table: 'public.orders' });
      expect(second[0]).toBe(first[0]);
      expect(second.slice(1)).toEqual([REFERENCE('public.orders')]);

      const query = await blocks(client, 'query', { sql: "select count(*) as shipped from orders where status = 'shipped'" });
      expect(query).toEqual(['1 row.\n\n| shipped |\n| --- |\n| 41 |', REFERENCE('public.orders')]);
    } finally {
      await client.close();
    }
  });
});

describe('database store (pg), datasource by DSN', () => {
  let sessionsDb: TestDatabase;
  let shop: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    [sessionsDb, shop] = await Promise.all([createTestDatabase('baton_enrich_sessions'), createShopDatabase('baton_enrich_shop')]);
    env = { BATON_TOOLSETS: '', SESSIONS_STORE: 'database', DATABASE_URL: sessionsDb.url, DATASOURCE_URL: shop.url };
  });

  afterAll(async () => {
    await Promise.all([sessionsDb?.drop(), shop?.drop()]);
  });

  async function sessionState(id: string): Promise<Record<string, unknown>> {
    const client = new pg.Client({ connectionString: sessionsDb.url });
    await client.connect();
    try {
      const { rows } = await client.query('select state from baton.sessions where id = $1', [id]);
      return rows[0].state;
    } finally {
      await client.end();
    }
  }

  it('the full context goes once; after SIGKILL and a restart the same session gets the reference', async () => {
    const first = await start(env);
    const port = first.port;
    const { client, transport } = await connectClient(first.url);
    try {
      const described = await blocks(client, 'describe_table', { table: 'public.orders' });
      expect(isFull(described[1], 'public.orders')).toBe(true);
      expect(Object.keys(await sessionState(transport.sessionId!))).toContain('enrich.sent:public.orders');

      await first.stop('SIGKILL');
      await start(env, port);

      const after = await blocks(client, 'query', { sql: 'select min(placed_at)::date as first_order from orders' });
      expect(after).toEqual(['1 row.\n\n| first_order |\n| --- |\n| 2024-03-03 |', REFERENCE('public.orders')]);
      // What the dead process never sent still comes in full.
      const customers = await blocks(client, 'describe_table', { table: 'customers' });
      expect(isFull(customers[1], 'public.customers')).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('two instances behind a round-robin proxy: sent on one, referenced on the other; concurrent calls keep both tables', async () => {
    const [a, b] = await Promise.all([start(env), start(env)]);
    const proxy = await startRoundRobinProxy([`http://127.0.0.1:${a.port}`, `http://127.0.0.1:${b.port}`]);
    const { client, transport } = await connectClient(`${proxy.url}/mcp`);
    try {
      const sent = await blocks(client, 'describe_table', { table: 'customers' });
      const sentOn = proxy.served.at(-1);
      expect(isFull(sent[1], 'public.customers')).toBe(true);
      const again = await blocks(client, 'query', { sql: 'select count(*) as n from customers' });
      expect(proxy.served.at(-1)).not.toBe(sentOn);
      expect(again).toEqual(['1 row.\n\n| n |\n| --- |\n| 24 |', REFERENCE('public.customers')]);

      // Two calls of one session at once, each on its own instance, each sending a new table.
      const servedBefore = proxy.served.length;
      const [products, items] = await Promise.all([
        blocks(client, 'describe_table', { table: 'products' }),
        blocks(client, 'describe_table', { table: 'order_items' }),
      ]);
      expect(new Set(proxy.served.slice(servedBefore))).toEqual(new Set([0, 1]));
      expect(isFull(products[1], 'public.products')).toBe(true);
      expect(isFull(items[1], 'public.order_items')).toBe(true);
      const state = await sessionState(transport.sessionId!);
      expect(
        Object.keys(state)
          .filter((k) => k.startsWith('enrich.sent:'))
          .sort(),
      ).toEqual(['enrich.sent:public.customers', 'enrich.sent:public.order_items', 'enrich.sent:public.products']);
      expect(await blocks(client, 'query', { sql: 'select count(*) from order_items join products on products.id = product_id' })).toEqual([
        '1 row.\n\n| count |\n| --- |\n| 137 |',
        REFERENCE('public.order_items'),
        REFERENCE('public.products'),
      ]);
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});
