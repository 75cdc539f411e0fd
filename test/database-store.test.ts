// The database store through the real HTTP app (in process) on every driver, and on pg through
// PgBouncer in transaction mode (the pooler production puts in front of Postgres): the statement
// budget per request kind (the same through the pooler as direct), state merges that lose no key, timestamps independent of the server's
// TimeZone, and sessions shared by two platforms over one database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { rowsOf } from '../src/store/db/database.js';
import { createLogger } from '../src/log.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { RawSession } from './helpers/mcp.js';
import { startPgBouncer, type PgBouncer } from './helpers/pgbouncer.js';

const quiet = createLogger('error');

/** A driver's settings, and the test database they reach (none for PGlite). */
type DriverSetup = { name: string; database: () => Record<string, unknown>; db?: () => TestDatabase };

let pgDb: TestDatabase;
let pooledDb: TestDatabase;
let bouncer: PgBouncer;
let neonDb: TestDatabase;
let endpoint: Awaited<ReturnType<typeof startNeonEndpoint>>;
const pgliteDir = mkdtempSync(join(tmpdir(), 'baton-store-pglite-'));

beforeAll(async () => {
  pgDb = await createTestDatabase('baton_store');
  neonDb = await createTestDatabase('baton_store_neon');
  pooledDb = await createTestDatabase('baton_store_pooled');
  bouncer = await startPgBouncer();
  endpoint = await startNeonEndpoint({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres' });
});

afterAll(async () => {
  await endpoint?.close();
  await pgDb?.drop();
  await neonDb?.drop();
  await bouncer?.close();
  await pooledDb?.drop();
  rmSync(pgliteDir, { recursive: true, force: true });
});

const drivers: DriverSetup[] = [
  { name: 'pg', database: () => ({ driver: 'pg', dsn: pgDb.url }), db: () => pgDb },
  // No hint in the URL: the driver finds the pooler by asking the connection.
  {
    name: 'pg through PgBouncer (transaction mode)',
    database: () => ({ driver: 'pg', dsn: bouncer.rewrite(pooledDb.url) }),
    db: () => pooledDb,
  },
  { name: 'pglite', database: () => ({ driver: 'pglite', pglite_dir: pgliteDir }) },
  {
    name: 'neon-http',
    database: () => ({ driver: 'neon-http', dsn: endpoint.connectionString(neonDb.name), http_endpoint: endpoint.fetchEndpoint }),
    db: () => neonDb,
  },
];

async function platformFor(setup: DriverSetup, sessions: Record<string, unknown> = {}): Promise<Platform> {
  // A polling channel (neon-http) reads the session's topic once per poll_interval while a
  // request runs; an interval no request here comes near keeps the budgets about the requests
  // themselves, however slowly a loaded machine serves them.
  const config = parseConfig(
    {
      sessions: { store: 'database', ...sessions },
      database: setup.database(),
      toolsets: ['conformance'],
      channel: { poll_interval: '10m' },
    },
    {},
  );
  return createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
}

function counter(platform: Platform) {
  const store = platform.store as DatabaseSessionStore;
  return {
    store,
    /** Statements sent while `run` ran. */
    async count<T>(run: () => Promise<T>): Promise<{ statements: number; value: T }> {
      const before = store.database.statements.count;
      const value = await run();
      return { statements: store.database.statements.count - before, value };
    },
  };
}

describe.each(drivers)('database store over $name', (setup) => {
  let platform: Platform;
  const fetcher = (request: Request) => platform.app.fetch(request);

  beforeAll(async () => {
    platform = await platformFor(setup);
  });

  afterAll(async () => {
    await platform?.close();
  });

  it('pays the migration check once, then keeps to the statement budget of each request kind', async () => {
    const { count } = counter(platform);
    const session = new RawSession(fetcher);

    // First request of a fresh instance: the migration check (and, on an empty database, the
    // migration itself) comes on top of the request's own statement.
    const first = await count(() => session.initialize({ elicitation: {} }));
    expect(first.value.status).toBe(200);
    expect(first.statements).toBeGreaterThanOrEqual(2);

    const init = await count(() => new RawSession(fetcher).initialize());
    expect(init.value.status).toBe(200);
    expect(init.statements).toBe(1);

    const notification = await count(() => session.notify('notifications/initialized'));
    expect(notification.value.status).toBe(202);
    expect(notification.statements).toBe(1);

    const call = await count(() => session.callTool('test_simple_text'));
    expect(call.value.result.content[0].text).toBe('This is a simple text response for testing.');
    expect(call.statements).toBe(1);

    const changed = await count(() => session.request('logging/setLevel', { level: 'warning' }));
    expect(changed.value.messages[0].result).toEqual({});
    expect(changed.statements).toBe(2);

    // A subscription change is announced to the session's streams by the statement that stores it.
    const subscribed = await count(() => session.request('resources/subscribe', { uri: 'test://watched-resource' }));
    expect(subscribed.value.messages[0].result).toEqual({});
    expect(subscribed.statements).toBe(2);

    const deleted = await count(() => session.delete());
    expect(deleted.value.status).toBe(200);
    expect(deleted.statements).toBe(1);

    const gone = await session.request('tools/list');
    expect(gone.status).toBe(404);
  });

  it('restores negotiated capabilities and state in a platform that never saw the session', async () => {
    const session = new RawSession(fetcher);
    await session.initialize({ elicitation: {} });
    await session.request('logging/setLevel', { level: 'error' });
    await session.request('resources/subscribe', { uri: 'test://watched-resource' });

    // A second platform over the same database: a new instance after a deploy. Embedded PGlite
    // admits one process per data directory, so there the first platform stops first.
    const exclusive = setup.name === 'pglite';
    if (exclusive) await platform.close();
    const other = await platformFor(setup);
    try {
      const store = other.store as DatabaseSessionStore;
      const opened = await store.open(session.id, '');
      expect(opened.status).toBe('ok');
      if (opened.status !== 'ok') return;
      // The SDK normalizes a bare `elicitation: {}` to form mode at initialize.
      expect(opened.session.clientCapabilities).toEqual({ elicitation: { form: {} } });
      expect(opened.session.clientInfo).toEqual({ name: 'raw-test', version: '1.0.0' });
      expect(opened.session.state).toMatchObject({ 'mcp.logging_level': 'error', 'mcp.sub:test://watched-resource': true });
      const moved = new RawSession((r) => other.app.fetch(r));
      moved.id = session.id;
      const listed = await moved.request('tools/list');
      expect(listed.status).toBe(200);
    } finally {
      await other.close();
      if (exclusive) platform = await platformFor(setup);
    }
  });

  it('writes a touch only when the stored one is older than the granularity', async () => {
    const { store } = counter(platform);
    const session = new RawSession(fetcher);
    await session.initialize();
    const lastActive = async () => {
      const opened = await store.open(session.id, '');
      if (opened.status !== 'ok') throw new Error(`session ${opened.status}`);
      return opened.session.lastActiveAt.getTime();
    };
    // The stored touch is set by hand on both sides of the granularity (1 s for the default 30 min
    // idle timeout), so that how fast this machine runs the calls does not matter.
    const setTouch = (at: ReturnType<typeof sql>) =>
      store.database.db.execute(sql`update baton.sessions set last_active_at = ${at} where id = ${session.id}`);
    const storedTouch = async () => {
      const [row] = rowsOf<{ ms: string }>(
        await store.database.db.execute(
          sql`select floor(extract(epoch from last_active_at) * 1000)::bigint::text as ms from baton.sessions where id = ${session.id}`,
        ),
      );
      return Number(row!.ms);
    };
    // Fresher than the granularity (an hour ahead, as a writer with a fast clock may leave it): read, not written.
    await setTouch(sql`now() + interval '1 hour'`);
    const fresh = await storedTouch();
    expect(await lastActive()).toBe(fresh);
    expect(await storedTouch()).toBe(fresh);
    // Older than the granularity, well within the idle timeout: written.
    await setTouch(sql`now() - ${2 * store.touchGranularityMs} * interval '1 millisecond'`);
    const stale = await storedTouch();
    const touched = await lastActive();
    expect(touched).toBeGreaterThan(stale);
    expect(await storedTouch()).toBe(touched);
  });

  it('merges concurrent state changes without losing a key', async () => {
    const { store } = counter(platform);
    const session = new RawSession(fetcher);
    await session.initialize();
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.update(session.id, { set: { [`k${i}`]: i }, unset: [] })));
    await store.update(session.id, { set: { k20: 'x' }, unset: ['k0'] });
    const opened = await store.open(session.id, '');
    expect(opened.status).toBe('ok');
    if (opened.status !== 'ok') return;
    for (let i = 1; i < 20; i++) expect(opened.session.state[`k${i}`]).toBe(i);
    expect(opened.session.state.k0).toBeUndefined();
    expect(opened.session.state.k20).toBe('x');
  });

  it('binds sessions to the creating credential: 403 for another, untouched', async () => {
    const { store } = counter(platform);
    const owner = new RawSession(fetcher, undefined, { authorization: 'Bearer owner-token' });
    await owner.initialize();
    const before = await store.open(owner.id, await sha256('owner-token'));
    expect(before.status).toBe('ok');
    const thief = new RawSession(fetcher, undefined, { authorization: 'Bearer other-token' });
    thief.id = owner.id;
    expect((await thief.request('tools/list')).status).toBe(403);
    expect((await thief.delete()).status).toBe(403);
    const anonymous = new RawSession(fetcher);
    anonymous.id = owner.id;
    expect((await anonymous.request('tools/list')).status).toBe(403);
    expect((await owner.callTool('test_simple_text')).status).toBe(200);
  });
});

describe('timestamps', () => {
  it('do not depend on the database server TimeZone', async () => {
    const zoned = await createTestDatabase('baton_tz');
    try {
      const admin = new pg.Client({ connectionString: zoned.url });
      await admin.connect();
      await admin.query(`alter database ${zoned.name} set timezone to 'Pacific/Chatham'`);
      await admin.end();
      const config = parseConfig(
        { sessions: { store: 'database', ttl: '1h', idle_timeout: '10m' }, database: { driver: 'pg', dsn: zoned.url } },
        {},
      );
      const store = (await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase })).store as DatabaseSessionStore;
      try {
        const before = Date.now();
        const created = await store.create({
          id: 'tz-session',
          credentialHash: '',
          protocolVersion: '2025-11-25',
          clientCapabilities: {},
          clientInfo: { name: 'tz', version: '1' },
          state: {},
        });
        const after = Date.now();
        // Same instant as the client clock, within the test's own duration plus clock slack.
        expect(created.createdAt.getTime()).toBeGreaterThanOrEqual(before - 2_000);
        expect(created.createdAt.getTime()).toBeLessThanOrEqual(after + 2_000);
        expect(created.expiresAt.getTime() - created.createdAt.getTime()).toBe(3_600_000);
        const opened = await store.open('tz-session', '');
        expect(opened.status).toBe('ok');
        if (opened.status === 'ok') expect(Math.abs(opened.session.lastActiveAt.getTime() - Date.now())).toBeLessThan(5_000);
      } finally {
        await store.close();
      }
    } finally {
      await zoned.drop();
    }
  });
});

describe.each(drivers.filter((d) => d.name !== 'pglite'))('shared secret over $name', (setup) => {
  it('is the one stored value for every instance racing for it first, even while another insert is in flight', async () => {
    const racers = await Promise.all([1, 2, 3].map(() => platformFor(setup)));
    const database = setup.db!();
    // One client holds the other instance's transaction; another watches (outside it, so that
    // pg_stat_activity is read fresh each time).
    const [holder, watcher] = [new pg.Client({ connectionString: database.url }), new pg.Client({ connectionString: database.url })];
    await Promise.all([holder.connect(), watcher.connect()]);
    try {
      await Promise.all(racers.map((p) => p.store.ready?.()));
      // Another instance's insert of the secret, not committed yet: every racer must wait for it
      // and then answer with it, not with nothing.
      const name = `raced-${setup.name}`;
      await holder.query('begin');
      await holder.query('insert into baton.secrets (name, value) values ($1, $2)', [name, 'stored-first']);
      const answers = Promise.allSettled(racers.map((p, i) => p.store.sharedSecret(name, `made-by-${i}`)));
      const waiting = async () => {
        const { rows } = await watcher.query(
          "select count(*)::int as n from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and query like '%secrets%'",
          [database.name],
        );
        return rows[0].n as number;
      };
      await expect.poll(waiting, { timeout: 30_000 }).toBe(racers.length);
      await holder.query('commit');
      expect(await answers).toEqual(racers.map(() => ({ status: 'fulfilled', value: 'stored-first' })));
    } finally {
      await Promise.all([holder.end(), watcher.end()]);
      await Promise.all(racers.map((p) => p.close()));
    }
  });
});

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
