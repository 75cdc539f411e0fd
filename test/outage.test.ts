// Database faults. First the real failures each driver produces (connection refused, connection
// dropped mid-statement, statement timeout 57014, pool connect timeout, read timeout, neon-http
// fetch timeout) must all reach the session layer as StoreUnavailableError, each through the
// timer the configured statement timeout sets (its cause says which; how long it took depends on
// the machine and is not asserted). Then a Node server whose Postgres sits behind a TCP proxy: cut mid-test,
// requests get 503 with Retry-After; restored, the same sessions continue, unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { StoreUnavailableError } from '../src/store/errors.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { openNeonHttp } from '../src/store/db/drivers/neon-http.js';
import { openPgDatasource } from '../src/tools/data/drivers/pg.js';
import { createLogger, withoutUrlPasswords } from '../src/log.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import type { SessionStore } from '../src/store/types.js';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort, startServer, type RunningServer } from './helpers/server.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { RawSession } from './helpers/mcp.js';
import { waitFor } from './helpers/wait.js';

const LIMITS = { ttlMs: 3_600_000, idleTimeoutMs: 3_600_000 };
const TIMEOUT_MS = 800;

let db: TestDatabase;
let proxy: TcpProxy;
beforeAll(async () => {
  db = await createTestDatabase('baton_outage');
  proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
});
afterAll(async () => {
  await proxy?.close();
  await db?.drop();
});

async function newSession(store: SessionStore, id: string) {
  await store.create({
    id,
    credentialHash: '',
    protocolVersion: '2025-11-25',
    clientCapabilities: {},
    clientInfo: { name: 'outage', version: '1' },
    state: { k: id },
  });
}

/** Runs `work` and returns how it failed and how long that took. */
async function failure(work: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await work();
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error('expected a failure');
}

function causes(error: unknown): any[] {
  const out: any[] = [];
  for (let e: any = error; e && out.length < 10; e = e.cause) out.push(e);
  return out;
}

/** Holds a row lock, so that a statement on that row waits (and runs into its timeout). */
async function lockRow(id: string) {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  // open() writes only a touch older than its granularity (1 s at most): age the stored one, so
  // that the next open() must write, and so wait for the lock.
  await client.query(`update baton.sessions set last_active_at = now() - interval '2 seconds' where id = $1`, [id]);
  await client.query('begin');
  await client.query('select id from baton.sessions where id = $1 for update', [id]);
  const holder = (await client.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  return {
    /** Resolves once a statement of another connection waits for this lock. */
    waitedOn: async () => {
      const monitor = new pg.Client({ connectionString: db.url });
      await monitor.connect();
      try {
        const blocked = async () =>
          (await monitor.query('select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [holder])).rows[0]
            .n;
        await waitFor(async () => (await blocked()) > 0, { what: 'a statement waiting for the held lock', intervalMs: 10 });
      } finally {
        await monitor.end();
      }
    },
    release: async () => {
      await client.query('rollback');
      await client.end();
    },
  };
}

describe('driver failures are StoreUnavailableError', () => {
  let store: DatabaseSessionStore;
  beforeAll(async () => {
    store = new DatabaseSessionStore(openPg({ dsn: proxy.rewrite(db.url), statementTimeoutMs: TIMEOUT_MS }), LIMITS);
    await newSession(store, 'fault-1');
  });
  afterAll(() => store?.close());

  it('pg: connection refused', async () => {
    const closed = new DatabaseSessionStore(
      openPg({ dsn: db.url.replace(':5432', `:${await freePort()}`), statementTimeoutMs: TIMEOUT_MS }),
      LIMITS,
    );
    try {
      const { error } = await failure(() => closed.open('fault-1', ''));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(causes(error).some((e) => e.code === 'ECONNREFUSED')).toBe(true);
    } finally {
      await closed.close();
    }
  });

  it('pg: statement timeout (57014) bounds a statement that waits on a lock', async () => {
    const lock = await lockRow('fault-1');
    try {
      const { error } = await failure(() => store.open('fault-1', ''));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(causes(error).some((e) => e.code === '57014')).toBe(true);
    } finally {
      await lock.release();
    }
    expect((await store.open('fault-1', '')).status).toBe('ok');
  });

  it('pg: connection terminated mid-statement', async () => {
    const lock = await lockRow('fault-1');
    try {
      const pending = failure(() => store.open('fault-1', ''));
      // Mid-statement: the statement has reached the database and waits there.
      await lock.waitedOn();
      await proxy.cut();
      const { error } = await pending;
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/terminat|ECONNRESET|closed/i);
    } finally {
      await proxy.restore();
      await lock.release();
    }
    const opened = await store.open('fault-1', '');
    expect(opened.status === 'ok' && opened.session.state).toEqual({ k: 'fault-1' });
  });

  it('pg: read timeout on a pooled connection whose network went silent', async () => {
    await store.open('fault-1', ''); // a pooled, idle connection exists
    await proxy.stall();
    try {
      const { error } = await failure(() => store.open('fault-1', ''));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(causes(error).some((e) => /Query read timeout/.test(e.message))).toBe(true);
    } finally {
      await proxy.restore();
    }
  });

  it('pg: pool connect timeout when new connections hang', async () => {
    // No listening connection, and no connection of its own to ask whether it goes through a
    // pooler: either would time out first, and this is about the pool's.
    const fresh = new DatabaseSessionStore(openPg({ dsn: proxy.rewrite(db.url), pooler: 'none', statementTimeoutMs: TIMEOUT_MS }), LIMITS, {
      autoMigrate: false,
      listen: false,
    });
    await proxy.stall();
    try {
      const { error } = await failure(() => fresh.open('fault-1', ''));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/connection timeout/i);
    } finally {
      await proxy.restore();
      await fresh.close();
    }
  });

  it('neon-http: fetch timeout and refused connection', async () => {
    const endpoint = await startNeonEndpoint({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres' });
    const front = await startTcpProxy({ host: '127.0.0.1', port: endpoint.port });
    const neon = new DatabaseSessionStore(
      openNeonHttp({
        dsn: endpoint.connectionString(db.name),
        httpEndpoint: front.rewrite(endpoint.fetchEndpoint),
        statementTimeoutMs: TIMEOUT_MS,
      }),
      LIMITS,
    );
    try {
      await newSession(neon, 'fault-neon');
      await front.stall();
      const timedOut = await failure(() => neon.open('fault-neon', ''));
      expect(timedOut.error).toBeInstanceOf(StoreUnavailableError);
      expect(causes(timedOut.error).some((e) => e.name === 'TimeoutError' || /aborted due to timeout/.test(e.message))).toBe(true);
      await front.cut();
      expect((await failure(() => neon.open('fault-neon', ''))).error).toBeInstanceOf(StoreUnavailableError);
      await front.restore();
      const opened = await neon.open('fault-neon', '');
      expect(opened.status === 'ok' && opened.session.state).toEqual({ k: 'fault-neon' });
    } finally {
      await neon.close();
      await front.close();
      await endpoint.close();
    }
  });
});

describe('a pooled connection that dies while idle', () => {
  /** Ends every other connection to the test database, as a database restart would. */
  async function terminateOthers(): Promise<number> {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
      );
      return rows.length;
    } finally {
      await admin.end();
    }
  }

  it('is logged as a warning, without the password of the URL, by the store pool and the datasource pool', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', (line) => lines.push(line));
    const withPassword = db.url.replace('postgres@', 'postgres:hunter2-pool@');
    const store = new DatabaseSessionStore(openPg({ dsn: withPassword, statementTimeoutMs: 5_000, logger }), LIMITS);
    const datasource = openPgDatasource({ dsn: withPassword, statementTimeoutMs: 5_000, logger });
    try {
      await newSession(store, 'idle-pool');
      await datasource.readOnly([{ text: 'select 1' }]);
      // Both pools now hold an idle connection; the server ends them.
      expect(await terminateOthers()).toBeGreaterThanOrEqual(2);
      await expect.poll(() => lines.length).toBeGreaterThanOrEqual(2);
      const logged = lines.map((line) => JSON.parse(line));
      expect(logged).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            level: 'warn',
            msg: 'session database: idle connection failed',
            error: expect.stringMatching(/terminat/),
          }),
          expect.objectContaining({ level: 'warn', msg: 'datasource: idle connection failed', error: expect.stringMatching(/terminat/) }),
        ]),
      );
      expect(lines.join('\n')).not.toContain('hunter2-pool');
      // A driver error that quotes the URL (a failed connect does) loses the password too.
      expect(withoutUrlPasswords('connect postgres://ada:s3cret@db.example:5432/app failed')).toBe(
        'connect postgres://ada:[redacted]@db.example:5432/app failed',
      );
      // The pools carry on with new connections.
      expect((await store.open('idle-pool', '')).status).toBe('ok');
      expect((await datasource.readOnly([{ text: 'select 2 as two' }]))[0]!.rows).toEqual([['2']]);
    } finally {
      await store.close();
      await datasource.close();
    }
  });
});

describe('database outage under a running Node server', () => {
  let server: RunningServer;

  beforeAll(async () => {
    const config = [
      'toolsets: [conformance]',
      'sessions:',
      '  store: database',
      'database:',
      '  driver: pg',
      `  dsn: "${proxy.rewrite(db.url)}"`,
      '  statement_timeout: 1s',
    ].join('\n');
    server = await startServer({ BATON_CONFIG_YAML: config });
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function rows(ids: string[]) {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        'select id, state, last_active_at, expires_at from baton.sessions where id = any($1) order by id',
        [ids],
      );
      return rows;
    } finally {
      await client.end();
    }
  }

  async function expect503(response: Response) {
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: expect.stringMatching(/unavailable/) },
    });
  }

  it('answers 503 with Retry-After while the database is away, and the same sessions continue after', async () => {
    const levels = ['error', 'warning', 'notice'];
    const sessions = await Promise.all(
      levels.map(async (level) => {
        const session = new RawSession((r) => fetch(r), server.url);
        expect((await session.initialize()).status).toBe(200);
        expect((await session.request('logging/setLevel', { level })).status).toBe(200);
        return session;
      }),
    );
    const ids = sessions.map((s) => s.id);
    const before = await rows(ids);
    expect(before).toHaveLength(3);

    await proxy.cut();
    try {
      for (const session of sessions) {
        await expect503(
          await session.send('POST', { jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } }),
        );
        await expect503(await session.send('POST', { jsonrpc: '2.0', id: 100, method: 'logging/setLevel', params: { level: 'debug' } }));
        await expect503(await session.delete());
      }
      await expect503(await new RawSession((r) => fetch(r), server.url).initialize());
      // Liveness is not the database's business.
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
    } finally {
      await proxy.restore();
    }
    expect(await rows(ids)).toEqual(before);

    // A network that hangs instead of refusing: answered (the read timeout ends the wait).
    await proxy.stall();
    try {
      await expect503(await sessions[0]!.send('POST', { jsonrpc: '2.0', id: 101, method: 'tools/list', params: {} }));
    } finally {
      await proxy.restore();
    }

    for (const session of sessions) {
      const result = await session.callTool('test_simple_text');
      expect(result.status).toBe(200);
      expect(result.result.content[0].text).toBe('This is a simple text response for testing.');
    }
    const after = await rows(ids);
    expect(after.map((r) => r.state)).toEqual(before.map((r) => r.state));
    for (const [index, session] of sessions.entries()) {
      expect(after.find((r) => r.id === session.id).state['mcp.logging_level']).toBe(levels[index]);
    }
    expect(server.logs.join('')).toContain('"msg":"session store unavailable"');
  });
});
