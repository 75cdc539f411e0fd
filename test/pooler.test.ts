// The database store behind a real PgBouncer in transaction mode, where consecutive transactions
// of one client connection run on different server connections: instances starting together on
// an empty database migrate it once and all serve; the driver finds the pooler by itself, where
// named prepared statements (what `database.pooler: none` sends) clash on the server connections
// the pooler shares, and that clash is reported as the pooler's, not as an internal error; the
// statement timeout travels in no startup packet through the pooler.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { parseConfig } from '../src/config/index.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { MIGRATIONS } from '../src/store/db/migrations.generated.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession } from './helpers/mcp.js';
import { startPgBouncer, type PgBouncer } from './helpers/pgbouncer.js';
import { startServer, untilReady, type RunningServer } from './helpers/server.js';

describe('four instances start at once on an empty database through PgBouncer', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('baton_pooler_migrate');
    bouncer = await startPgBouncer();
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    await bouncer?.close();
    await db?.drop();
  });

  it('migrate it exactly once, report ready, and serve sessions', async () => {
    const env = { SESSIONS_STORE: 'database', DATABASE_URL: bouncer.rewrite(db.url), BATON_TOOLSETS: 'diagnostics' };
    servers.push(...(await Promise.all([1, 2, 3, 4].map(() => startServer(env)))));
    for (const server of servers) {
      await untilReady(server);
      // Found by asking the connection: the URL says nothing of a pooler.
      expect(server.logs.join('')).toContain('"msg":"session database: through a pooler in transaction mode"');
    }
    for (const server of servers) {
      const session = new RawSession(fetch, server.url);
      expect((await session.initialize()).status).toBe(200);
      const { status, result } = await session.callTool('sleep', { ms: 1 });
      expect(status).toBe(200);
      expect(result.content).toEqual([{ type: 'text', text: 'slept 1 ms' }]);
    }
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      const { rows } = await check.query(
        'select created_at::text as at, count(*)::int as n from drizzle.__drizzle_migrations group by 1 order by 1',
      );
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ at: String(m.folderMillis), n: 1 })));
      const logs = servers.map((s) => s.logs.join(''));
      expect(logs.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    } finally {
      await check.end();
    }
  });
});

describe('named prepared statements behind the pooler', () => {
  let db: TestDatabase;
  // One server connection for every client: a statement one client prepared is there for the next.
  // It drops statement_timeout from the startup (as some hosted poolers do), so that `none` gets as
  // far as its statements.
  let bouncer: PgBouncer;
  const platforms: Platform[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('baton_pooler_named');
    bouncer = await startPgBouncer({ poolSize: 1, ignoreStartupParameters: ['statement_timeout'] });
  });
  afterAll(async () => {
    await Promise.all(platforms.map((p) => p.close()));
    await bouncer?.close();
    await db?.drop();
  });

  /** Eight initialize requests at once: the driver's pool opens several client connections. */
  async function burst(pooler: 'auto' | 'none'): Promise<{ statuses: number[]; bodies: string[] }> {
    const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: bouncer.rewrite(db.url), pooler } }, {});
    const platform = await createPlatform(config, { logger: createLogger('error'), openDatabase: openNodeDatabase });
    platforms.push(platform);
    await platform.store.ready?.();
    const fetcher = (request: Request) => platform.app.fetch(request);
    const responses = await Promise.all(Array.from({ length: 8 }, () => new RawSession(fetcher).initialize()));
    return { statuses: responses.map((r) => r.status), bodies: await Promise.all(responses.map((r) => r.text())) };
  }

  it('auto: found, sent unnamed, every request served', async () => {
    const { statuses } = await burst('auto');
    expect(statuses).toEqual(Array(8).fill(200));
  });

  it('none (the operator says there is no pooler): the clash answers 503 naming the pooler, never 500', async () => {
    const { statuses, bodies } = await burst('none');
    expect(statuses).not.toContain(500);
    expect(statuses).toContain(503);
    expect(bodies.find((body) => body.includes('pooler'))).toMatch(/pooler in transaction mode/);
  });
});

describe('the statement timeout', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  beforeAll(async () => {
    db = await createTestDatabase('baton_pooler_timeout');
    bouncer = await startPgBouncer();
  });
  afterAll(async () => {
    await bouncer?.close();
    await db?.drop();
  });

  it('is set server-side on direct connections, and sent in no startup packet through the pooler', async () => {
    const timeoutThrough = async (dsn: string) => {
      const config = parseConfig({ database: { driver: 'pg', dsn, statement_timeout: '7s' } }, {});
      const database = await openNodeDatabase(config);
      try {
        const connection = await database.connection!();
        const [row] = await database.query(sql`select current_setting('statement_timeout') as timeout`);
        return { pooled: connection.pooled, timeout: row!.timeout };
      } finally {
        await database.close();
      }
    };
    expect(await timeoutThrough(db.url)).toEqual({ pooled: false, timeout: '7s' });
    // PgBouncer would refuse the connection had the setting been in its startup packet.
    expect(await timeoutThrough(bouncer.rewrite(db.url))).toEqual({ pooled: true, timeout: '0' });
  });

  it('database.pooler "none" through PgBouncer: the refused startup setting is reported as the pooler\'s', async () => {
    const config = parseConfig(
      { sessions: { store: 'database' }, database: { driver: 'pg', dsn: bouncer.rewrite(db.url), pooler: 'none' } },
      {},
    );
    const platform = await createPlatform(config, { logger: createLogger('error'), openDatabase: openNodeDatabase });
    try {
      await expect(platform.store.ready?.()).rejects.toThrow(
        /unsupported startup parameter: statement_timeout; set database\.pooler to "auto" or "transaction"/,
      );
    } finally {
      await platform.close();
    }
  });
});
