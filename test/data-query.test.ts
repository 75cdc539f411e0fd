// The data tools against real datasources, through the platform in this process: a Postgres
// database given by DSN through pg and through neon-http (the local Neon endpoint, read-only
// batch mode), and the embedded demo dataset (PGlite in a worker thread).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { startNeonEndpoint, type NeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { openEdgeDatasource } from '../src/tools/data/open-edge.js';
import { openPgDatasource } from '../src/tools/data/drivers/pg.js';
import { openNeonHttpDatasource } from '../src/tools/data/drivers/neon-http.js';
import { openPgliteDatasource } from '../src/tools/data/drivers/pglite.js';
import { splitStatements } from '../src/tools/data/sql/lexer.js';
import { demoSql } from '../src/tools/data/demo/index.js';
import type { Datasource } from '../src/tools/data/datasource.js';
import { sql } from 'drizzle-orm';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { classifyError } from '../src/store/db/database.js';
import { migrate } from '../src/store/db/migrate.js';
import { openNeonHttp } from '../src/store/db/drivers/neon-http.js';
import { StoreUnavailableError } from '../src/store/errors.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { createShopDatabase, SECRET_STATE } from './data-fixtures.js';

const quiet = createLogger('error');
const ROW_LIMIT = 10;

let shop: TestDatabase;
let endpoint: NeonEndpoint;

beforeAll(async () => {
  shop = await createShopDatabase();
  endpoint = await startNeonEndpoint({ postgresUrl: ADMIN_URL });
});

afterAll(async () => {
  await endpoint?.close();
  await shop?.drop();
});

function textOf(result: any): string {
  return (result?.content ?? []).map((c: any) => c.text).join('\n');
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: shop.url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

interface Driver {
  name: 'pg' | 'neon-http';
  platform(): Promise<Platform>;
  datasource(): Datasource;
}

const drivers: Driver[] = [
  {
    name: 'pg',
    platform: () =>
      createPlatform(
        parseConfig({ toolsets: ['data'], datasource: { dsn: shop.url, statement_timeout: '1s', row_limit: ROW_LIMIT } }, {}),
        { logger: quiet },
      ),
    datasource: () => openPgDatasource({ dsn: shop.url, statementTimeoutMs: 2_000 }),
  },
  {
    name: 'neon-http',
    platform: () =>
      createPlatform(
        parseConfig(
          {
            toolsets: ['data'],
            database: { http_endpoint: endpoint.fetchEndpoint },
            // The edge opener refuses a datasource to unauthenticated callers unless told.
            datasource: {
              dsn: endpoint.connectionString(shop.name),
              statement_timeout: '1s',
              row_limit: ROW_LIMIT,
              allow_unauthenticated: true,
            },
          },
          {},
        ),
        { logger: quiet, openDatasource: openEdgeDatasource },
      ),
    datasource: () =>
      openNeonHttpDatasource({
        dsn: endpoint.connectionString(shop.name),
        statementTimeoutMs: 2_000,
        httpEndpoint: endpoint.fetchEndpoint,
      }),
  },
];

describe.each(drivers)('datasource by DSN, driver $name', (driver) => {
  let platform: Platform;
  let session: RawSession;
  const call = async (tool: string, args: Record<string, unknown> = {}) => (await session.callTool(tool, args)).result;

  beforeAll(async () => {
    platform = await driver.platform();
    session = new RawSession((r) => platform.app.fetch(r));
    await session.initialize();
  });

  afterAll(async () => {
    await platform?.close();
  });

  it('list_tables shows the datasource, never the platform schema or the system catalogs', async () => {
    const listed = textOf(await call('list_tables'));
    for (const table of ['customers', 'orders', 'order_items', 'products', 'legacy_orders', 'customer_revenue'])
      expect(listed).toContain(`  ${table} (`);
    expect(listed).toContain('One row per checkout');
    expect(listed).not.toMatch(/baton|drizzle|pg_catalog|information_schema|pg_class|sessions \(/);
  });

  it('describe_table gives columns, types, nullability, keys and descriptions', async () => {
    const result = await call('describe_table', { table: 'public.order_items' });
    const text = textOf(result);
    expect(result.isError).toBeFalsy();
    expect(text).toContain('| unit_price_cents | integer | no |  | Price per unit when the order was placed');
    expect(text).toMatch(/Primary key:\n {2}\(order_id, product_id\)/);
    expect(text).toContain('(order_id) -> public.orders (id)');
    expect(text).toContain('(product_id) -> public.products (id)');
    expect(textOf(await call('describe_table', { table: 'customers' }))).toContain('Referenced by:\n  public.orders (customer_id) -> (id)');
    expect(textOf(await call('describe_table', { table: 'customer_revenue' }))).toContain('Reads: public.customers, public.orders');
    expect(textOf(await call('describe_table', { table: 'no_such_table' }))).toMatch(/No table or view named/);
  });

  it('describe_table refuses the platform schema and system catalogs', async () => {
    for (const table of ['baton.sessions', 'BATON.SESSIONS', '"baton"."sessions"', 'drizzle.__drizzle_migrations', 'baton.no_such_table']) {
      const result = await call('describe_table', { table });
      expect(result.isError, table).toBe(true);
      expect(textOf(result), table).toMatch(/belongs to the platform/);
    }
    for (const table of ['pg_class', 'pg_catalog.pg_stats', 'information_schema.tables']) {
      expect(textOf(await call('describe_table', { table })), table).toMatch(/system catalog/);
    }
  });

  it('query answers with a table and the semantic context of what it read', async () => {
    const result = await call('query', {
      sql: "select status, count(*) as n from orders where status <> 'pending' group by status order by status",
    });
    expect(result.isError).toBeFalsy();
    const [table, context] = result.content.map((c: any) => c.text);
    expect(table).toBe(
      ['3 rows.', '', '| status | n |', '| --- | --- |', '| cancelled | 13 |', '| paid | 13 |', '| shipped | 41 |'].join('\n'),
    );
    expect(context).toMatch(/^semantic_context: public\.orders\n/);
  });

  it('answers 2026-07-28 requests too; without a session, every result carries the full context', async () => {
    const sql = 'select count(*) as n from orders';
    const modern = async () => {
      const response = await platform.app.fetch(modernRequest('http://127.0.0.1/mcp', 'tools/call', { name: 'query', arguments: { sql } }));
      return (await readMessages(response))[0].result.content.map((c: any) => c.text);
    };
    for (const blocks of [await modern(), await modern()]) {
      expect(blocks[0]).toContain('| n |');
      expect(blocks[1]).toMatch(/^semantic_context: public\.orders\n/);
    }
    // A 2025 session is told once, then referred to what it was told.
    const fresh = new RawSession((r) => platform.app.fetch(r));
    await fresh.initialize();
    const once = (await fresh.callTool('query', { sql })).result.content.map((c: any) => c.text);
    const again = (await fresh.callTool('query', { sql })).result.content.map((c: any) => c.text);
    expect(once[1]).toMatch(/^semantic_context: public\.orders\n/);
    expect(again[1]).not.toMatch(/^semantic_context: public\.orders\n/);
  });

  it('query refers to a view by its name, not to the tables under it', async () => {
    const fresh = new RawSession((r) => platform.app.fetch(r));
    await fresh.initialize();
    const { result } = await fresh.callTool('query', { sql: 'select * from customer_revenue order by revenue_cents desc limit 1' });
    const blocks = result.content.map((c: any) => c.text);
    expect(blocks[0]).toContain('| 15 | customer15@example.com | 4 | 50920 |');
    expect(blocks.slice(1).map((b: string) => b.split('\n')[0])).toEqual(['semantic_context: public.customer_revenue']);
  });

  const refusals: [string, string, RegExp][] = [
    ['INSERT', "insert into products (sku, name, category, price_cents) values ('X', 'x', 'x', 1)", /only read-only queries/],
    ['UPDATE', 'update orders set status = $$paid$$', /only read-only queries/],
    ['DELETE', 'delete from order_items', /only read-only queries/],
    ['DDL', 'create table stolen as select * from customers', /only read-only queries/],
    ['DDL (drop)', 'drop table legacy_orders', /only read-only queries/],
    ['a write in a CTE', 'with gone as (delete from order_items returning *) select count(*) from gone', /writes data/],
    ['SELECT ... FOR UPDATE', 'select * from orders for update', /locks rows/],
    ['SELECT ... FOR SHARE in a subquery', 'select * from (select id from orders for share) o', /locks rows/],
    ['nextval', "select nextval('ticket_seq')", /nextval\(\), a volatile function/],
    ['setval', "select setval('ticket_seq', 100)", /setval\(\), a volatile function/],
    ['pg_advisory_lock', 'select pg_advisory_lock(42)', /pg_advisory_lock\(\), a volatile function/],
    ['pg_advisory_lock in FROM', 'select * from pg_advisory_lock(42)', /pg_advisory_lock\(\)/],
    ['pg_notify', "select pg_notify('channel', 'hi')", /pg_notify\(\), a volatile function/],
    [
      'dblink',
      "select * from dblink_exec('dbname=postgres', 'create table t (a int)')",
      /dblink_exec\(\), which opens connections to other databases/,
    ],
    [
      'SQL passed as text',
      "select query_to_xml('select * from baton.sessions', true, false, '')",
      /query_to_xml\(\), which runs SQL passed as text/,
    ],
    ['a volatile call hidden in VALUES', "select * from (values (nextval('ticket_seq'))) v(n)", /nextval/],
    ['several statements', 'select 1; select 2', /one statement at a time/],
    ['several statements after a comment', 'select 1 -- one\n; delete from orders', /one statement at a time/],
    ['the platform schema', 'select * from baton.sessions', /baton\.sessions; it belongs to the platform/],
    ['the platform schema, quoted', 'select state from "baton"."sessions"', /baton\.sessions/],
    ['the platform schema through a view', 'select * from session_peek', /baton\.sessions/],
    ['the platform schema in a subquery', 'select (select count(*) from baton.sessions) as n', /baton\.sessions/],
    ['the platform schema in an unused CTE', 'with s as (select * from baton.sessions) select 1', /baton\.sessions/],
    ['the platform schema under a false filter', 'select * from baton.sessions where false', /baton\.sessions/],
    ['the migration journal', 'select * from drizzle.__drizzle_migrations', /belongs to the platform/],
    ['a system catalog', 'select * from pg_stats', /system catalog/],
    ['information_schema', 'select * from information_schema.tables', /system catalog/],
  ];

  it.each(refusals)('query refuses %s', async (_what, sql, message) => {
    const result = await call('query', { sql });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Refused: /);
    expect(textOf(result)).toMatch(message);
    expect(JSON.stringify(result)).not.toContain(SECRET_STATE);
  });

  it('refused statements changed nothing and hold nothing', async () => {
    await admin(async (client) => {
      const { rows } = await client.query(`
        select (select count(*) from order_items)::int as items, (select count(*) from products)::int as products,
               (select last_value from ticket_seq)::int as seq, (select is_called from ticket_seq) as called,
               (select count(*) from pg_locks where locktype = 'advisory' and objid = 42
                  and database = (select oid from pg_database where datname = current_database()))::int as locks,
               to_regclass('public.stolen') as stolen`);
      expect(rows[0]).toEqual({ items: 137, products: 12, seq: 1, called: false, locks: 0, stolen: null });
    });
  });

  it('query stops a statement that runs past the timeout', async () => {
    for (const sql of ['select count(*) from generate_series(1, 10000000000)', 'select pg_sleep(30)']) {
      const result = await call('query', { sql });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/ran longer than the statement timeout \(1s, datasource.statement_timeout\) and was stopped/);
    }
    // The datasource is still there for the next statement.
    expect(textOf(await call('query', { sql: 'select count(*) from products' }))).toContain('| 12 |');
  });

  it('query holds the row cap and says when rows were cut', async () => {
    const cut = textOf(await call('query', { sql: 'select * from order_items order by order_id, product_id' }));
    expect(cut).toMatch(/^Showing the first 10 rows; the result has more \(the row cap, datasource\.row_limit, is 10\)/);
    expect(cut.split('\n').filter((line) => /^\| \d/.test(line))).toHaveLength(ROW_LIMIT);
    const exact = textOf(await call('query', { sql: 'select id from orders order by id limit 10' }));
    expect(exact).toMatch(/^10 rows\.\n/);
  });

  it('query reports what Postgres says about a bad statement', async () => {
    const result = await call('query', { sql: 'select no_such_column from orders' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Postgres: column "no_such_column" does not exist \(SQLSTATE 42703\)/);
  });

  it('the datasource itself: one statement per text, READ ONLY', async () => {
    const datasource = driver.datasource();
    try {
      await expect(datasource.readOnly([{ text: 'select 1; select 2' }])).rejects.toMatchObject({ code: '42601' });
      await expect(datasource.readOnly([{ text: "insert into legacy_orders values (999, 'x', 1, now())" }])).rejects.toMatchObject({
        code: '25006',
      });
      await expect(datasource.readOnly([{ text: "select nextval('ticket_seq')" }])).rejects.toMatchObject({ code: '25006' });
      await expect(datasource.readOnly([{ text: 'select * from orders for update' }])).rejects.toMatchObject({ code: '25006' });
    } finally {
      await datasource.close();
    }
  });
});

describe('neon-http: the datasource and the session store keep their own timeouts', () => {
  // Durations chosen so that no machine's speed decides the outcome: the data query sleeps longer
  // than the store's timeout and far less than its own; the store's statement sleeps past its own.
  const STORE_TIMEOUT = '2s';
  const SLEEP_SECONDS = 3;
  let sessions: TestDatabase;
  let platform: Platform;

  beforeAll(async () => {
    sessions = await createTestDatabase('baton_neon_timeouts');
    // Migrated beforehand, so that no request below depends on how long a migration takes.
    const setup = openNeonHttp({
      dsn: endpoint.connectionString(sessions.name),
      httpEndpoint: endpoint.fetchEndpoint,
      statementTimeoutMs: 60_000,
    });
    await migrate(setup);
    const config = parseConfig(
      {
        toolsets: ['data'],
        sessions: { store: 'database' },
        database: {
          driver: 'neon-http',
          dsn: endpoint.connectionString(sessions.name),
          http_endpoint: endpoint.fetchEndpoint,
          statement_timeout: STORE_TIMEOUT,
        },
        datasource: { dsn: endpoint.connectionString(shop.name), statement_timeout: '60s', allow_unauthenticated: true },
        // While the call runs, the instance reads the channel (for a cancel) every poll interval:
        // a real store cost, but not the one this test counts.
        channel: { poll_interval: '1m' },
      },
      {},
    );
    platform = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase, openDatasource: openEdgeDatasource });
  });

  afterAll(async () => {
    await platform?.close();
    await sessions?.drop();
  });

  it('a data query longer than database.statement_timeout finishes, and costs the store one statement', async () => {
    const store = platform.store as DatabaseSessionStore;
    const session = new RawSession((r) => platform.app.fetch(r));
    expect((await session.initialize()).status).toBe(200);
    const before = store.database.statements.count;
    const { result } = await session.callTool('query', { sql: `select pg_sleep(${SLEEP_SECONDS}) is null as slept` });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(textOf(result)).toContain('| slept |');
    // Opening the session; the datasource's own round trip is not the store's.
    expect(store.database.statements.count - before).toBe(1);
  });

  it('refuses a second, different endpoint in the process instead of re-pointing the first one', () => {
    expect(() =>
      openNeonHttp({ dsn: endpoint.connectionString(sessions.name), httpEndpoint: 'http://127.0.0.1:9/sql', statementTimeoutMs: 1_000 }),
    ).toThrow(/^database\.http_endpoint: the neon-http driver already sends this process's queries to http:\/\/127\.0\.0\.1:\d+\/sql/);
  });

  it('a store statement still stops at database.statement_timeout', async () => {
    const store = platform.store as DatabaseSessionStore;
    const error = await store.database.query(sql.raw(`select pg_sleep(${SLEEP_SECONDS})`)).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(classifyError(error)).toBeInstanceOf(StoreUnavailableError);
  });
});

describe('what READ ONLY alone lets through', () => {
  it('a session-level advisory lock outlives the transaction (the query checks refuse it)', async () => {
    const datasource = openPgDatasource({ dsn: shop.url, statementTimeoutMs: 2_000, poolSize: 1 });
    try {
      await datasource.readOnly([{ text: 'select pg_advisory_lock(4242)' }]);
      const held = await admin((c) => c.query("select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 4242"));
      expect(held.rows[0].n).toBe(1);
    } finally {
      // Closing the pool ends the connection, which releases the lock.
      await datasource.close();
    }
  });
});

describe('the embedded demo dataset (PGlite in a worker thread)', () => {
  let datasource: Datasource;

  beforeAll(async () => {
    datasource = await openPgliteDatasource({ seed: splitStatements(demoSql()), statementTimeoutMs: 1_000 });
  });

  afterAll(async () => {
    await datasource?.close();
  });

  it('holds the shop, read-only, one statement per text', async () => {
    const [result] = await datasource.readOnly([
      { text: 'select count(*), sum(total_cents) from orders where status = $1', params: ['shipped'] },
    ]);
    expect(result!.rows).toEqual([['41', '408450']]);
    await expect(datasource.readOnly([{ text: 'select 1; select 2' }])).rejects.toMatchObject({ code: '42601' });
    await expect(datasource.readOnly([{ text: 'delete from order_items' }])).rejects.toMatchObject({ code: '25006' });
  });

  it('stops a statement past the timeout by replacing its thread, and answers again afterwards', async () => {
    await expect(datasource.readOnly([{ text: 'select count(*) from generate_series(1, 10000000000)' }])).rejects.toMatchObject({
      code: '57014',
    });
    const [after] = await datasource.readOnly([{ text: 'select count(*) from order_items' }]);
    expect(after!.rows).toEqual([['137']]);
  });
});
