// Session lifetime (ttl, from creation) and idleness (idle_timeout, between requests) on both
// stores, through the HTTP app: past either limit a request gets 404 at once, cleanup or not; a
// busy session outlives the idle timeout but not the lifetime; one cleanup run removes what is past
// its limits and nothing else. Time is moved by hand, in minutes, so that how fast this machine
// runs the requests (milliseconds of real time) cannot decide an outcome: the memory store's clock
// is injected, and the database store's sessions are aged by the same amount (every stored time
// moved back, which is what the passing of time looks like to Postgres's now()).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { MemorySessionStore } from '../src/store/memory-store.js';
import { createLogger } from '../src/log.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession } from './helpers/mcp.js';

const MINUTE = 60_000;
const TTL_MS = 30 * MINUTE;
const IDLE_MS = 10 * MINUTE;

let db: TestDatabase;
let rows: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('baton_limits');
  rows = new pg.Client({ connectionString: db.url });
  await rows.connect();
});

afterAll(async () => {
  await rows?.end();
  await db?.drop();
});

interface Clocked {
  platform: Platform;
  /** Makes `ms` pass for every session. */
  advance(ms: number): Promise<void>;
}

interface Setup {
  name: string;
  platform(): Promise<Clocked>;
  /** Sessions kept by the store, live or not. */
  stored(platform: Platform): Promise<number>;
}

const sessionsConfig = { ttl: `${TTL_MS}ms`, idle_timeout: `${IDLE_MS}ms` };

const setups: Setup[] = [
  {
    name: 'memory',
    platform: async () => {
      let now = Date.now();
      const store = new MemorySessionStore({ ttlMs: TTL_MS, idleTimeoutMs: IDLE_MS }, () => now);
      const platform = await createPlatform(parseConfig({ sessions: sessionsConfig }, {}), { logger: createLogger('error'), store });
      return { platform, advance: async (ms) => void (now += ms) };
    },
    stored: async (platform) => (platform.store as MemorySessionStore).size,
  },
  {
    name: 'database (pg)',
    platform: async () => {
      await rows.query('delete from baton.sessions').catch(() => {});
      const platform = await createPlatform(
        parseConfig({ sessions: { store: 'database', ...sessionsConfig }, database: { dsn: db.url } }, {}),
        { logger: createLogger('error'), openDatabase: openNodeDatabase },
      );
      const advance = async (ms: number) => {
        const by = `${ms} milliseconds`;
        await rows.query(
          'update baton.sessions set created_at = created_at - $1::interval, last_active_at = last_active_at - $1::interval, expires_at = expires_at - $1::interval',
          [by],
        );
      };
      return { platform, advance };
    },
    stored: async () => Number((await rows.query('select count(*)::int as n from baton.sessions')).rows[0].n),
  },
];

describe.each(setups)('store $name', (setup) => {
  it('refuses a session past its idle timeout or lifetime at once; one cleanup run removes exactly those', async () => {
    const { platform, advance } = await setup.platform();
    try {
      const session = () => new RawSession((request) => platform.app.fetch(request));
      const [busy, idle, untouched] = [session(), session(), session()];
      await Promise.all([busy.initialize(), idle.initialize(), untouched.initialize()]);
      const baseline = await setup.stored(platform);

      // Busy: a request every 4 minutes (the idle timeout is 10), through the lifetime (30).
      for (let minutes = 4; minutes < 30; minutes += 4) {
        await advance(4 * MINUTE);
        expect((await busy.request('tools/list')).status, `after ${minutes} minutes`).toBe(200);
      }
      // 31 minutes: past the lifetime, however busy.
      await advance(3 * MINUTE);
      expect((await busy.request('tools/list')).status).toBe(404);

      // Idle since its initialize (31 minutes ago): 404, and the body says why.
      const refused = await idle.request('tools/list');
      expect(refused.status).toBe(404);
      expect(refused.messages[0].error.code).toBe(-32001);

      // Refusals are decided by the request itself: the untouched session is still stored
      // (the memory store drops the ones it refused as it goes).
      expect(await setup.stored(platform)).toBeGreaterThanOrEqual(1);
      expect(await setup.stored(platform)).toBeLessThanOrEqual(baseline);

      const fresh = session();
      await fresh.initialize();
      const storedBefore = await setup.stored(platform);
      const report = await platform.store.cleanup();
      expect(report.truncated).toBe(false);
      expect(report.removed).toBe(storedBefore - 1);
      expect(await setup.stored(platform)).toBe(1);
      expect((await fresh.request('tools/list')).status).toBe(200);
      expect((await untouched.request('tools/list')).status).toBe(404);
      expect((await platform.store.list()).length).toBe(1);
    } finally {
      await platform.close();
    }
  });

  it('counts idleness from the last request, not from creation', async () => {
    const { platform, advance } = await setup.platform();
    try {
      const session = new RawSession((request) => platform.app.fetch(request));
      await session.initialize();
      // Three gaps of half the idle timeout: 1.5 x the idle timeout since creation, never more
      // than half of it between two requests.
      for (let i = 0; i < 3; i++) {
        await advance(IDLE_MS / 2);
        expect((await session.request('tools/list')).status).toBe(200);
      }
      await advance(IDLE_MS + 2 * MINUTE);
      expect((await session.request('tools/list')).status).toBe(404);
    } finally {
      await platform.close();
    }
  });
});
