// Session lifetime (ttl, from creation) and idleness (idle_timeout, between requests) with short
// real durations, on both stores, through the HTTP app: past either limit a request gets 404 at
// once, cleanup or not; a busy session outlives the idle timeout but not the lifetime; one
// cleanup run removes what is past its limits and nothing else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { createPlatform, type Platform } from '../src/platform.js';
import { openNodeDatabase } from '../src/db/open-node.js';
import type { MemorySessionStore } from '../src/sessions/memory-store.js';
import { createLogger } from '../src/log.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession } from './helpers/mcp.js';

const TTL_MS = 4_000;
const IDLE_MS = 1_500;
/**
 * Time a request may take to reach the store on a busy machine; a request sent earlier than this
 * before a limit must succeed.
 */
const LATENCY_ALLOWANCE_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

interface Setup {
  name: string;
  platform(): Promise<Platform>;
  /** Sessions kept by the store, live or not. */
  stored(platform: Platform): Promise<number>;
}

const sessionsConfig = { ttl: `${TTL_MS}ms`, idle_timeout: `${IDLE_MS}ms` };

const setups: Setup[] = [
  {
    name: 'memory',
    platform: () => createPlatform(parseConfig({ sessions: sessionsConfig }, {}), { logger: createLogger('error') }),
    stored: async (platform) => (platform.store as MemorySessionStore).size,
  },
  {
    name: 'database (pg)',
    platform: () =>
      createPlatform(parseConfig({ sessions: { store: 'database', ...sessionsConfig }, database: { dsn: db.url } }, {}), {
        logger: createLogger('error'),
        openDatabase: openNodeDatabase,
      }),
    stored: async () => Number((await rows.query('select count(*)::int as n from baton.sessions')).rows[0].n),
  },
];

describe.each(setups)('store $name', (setup) => {
  it('refuses a session past its idle timeout or lifetime at once; one cleanup run removes exactly those', async () => {
    const platform = await setup.platform();
    try {
      const session = () => new RawSession((request) => platform.app.fetch(request));
      const before = Date.now();
      const [busy, idle, untouched] = [session(), session(), session()];
      await Promise.all([busy.initialize(), idle.initialize(), untouched.initialize()]);
      const after = Date.now();
      const baseline = await setup.stored(platform);

      // Busy: a request every 250 ms, through the idle timeout and past the lifetime.
      const answers: { sentAt: number; status: number }[] = [];
      while (Date.now() < after + TTL_MS + 500) {
        const sentAt = Date.now();
        answers.push({ sentAt, status: (await busy.request('tools/list')).status });
        await sleep(250);
      }
      const within = answers.filter((a) => a.sentAt + LATENCY_ALLOWANCE_MS < before + TTL_MS);
      const past = answers.filter((a) => a.sentAt >= after + TTL_MS);
      expect(within.every((a) => a.status === 200)).toBe(true);
      // Kept alive by its requests well beyond the idle timeout.
      expect(Math.max(...within.map((a) => a.sentAt)) - after).toBeGreaterThan(IDLE_MS * 1.5);
      expect(past.length).toBeGreaterThan(0);
      expect(past.every((a) => a.status === 404)).toBe(true);

      // Idle since its initialize (more than IDLE_MS ago): 404, and the body says why.
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
    const platform = await setup.platform();
    try {
      const session = new RawSession((request) => platform.app.fetch(request));
      await session.initialize();
      // Three half-idle gaps: 1.5 x the idle timeout since creation, never more than half of it
      // (plus the time a request takes) between two requests.
      for (let i = 0; i < 3; i++) {
        await sleep(IDLE_MS * 0.5);
        expect((await session.request('tools/list')).status).toBe(200);
      }
      await sleep(IDLE_MS + 100);
      expect((await session.request('tools/list')).status).toBe(404);
    } finally {
      await platform.close();
    }
  });
});
