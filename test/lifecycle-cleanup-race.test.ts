// Cleanup running concurrently with requests never removes a session that is within its limits:
// many sessions are kept near (but inside) their idle timeout by requests, while the Node server's
// cleanup interval and a second cleaner (another instance, small batches) loop over a table that
// keeps receiving dead rows to delete. A trigger records every deleted row with the moment of its
// deletion, so the check does not depend on how fast a loaded machine answers:
//  - no session may be deleted while it was within its limits;
//  - no request may get 404 when its answer arrived before the session could have ended;
//  - no request may fail in any other way.
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, untilReady, type RunningServer } from './helpers/server.js';
import { RawSession } from './helpers/mcp.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { sleep } from './helpers/wait.js';

const SESSIONS = 120;
const IDLE_MS = 3_000;
/** How long before its earliest possible idle deadline a session's next request is sent. */
const MARGIN_MS = { min: 700, max: 1_500 };
const HAMMER_MS = 14_000;

let db: TestDatabase;
let server: RunningServer;
let admin: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('baton_race');
  server = await startServer({
    SESSIONS_STORE: 'database',
    DATABASE_URL: db.url,
    SESSIONS_IDLE_TIMEOUT: `${IDLE_MS}ms`,
    SESSIONS_CLEANUP_INTERVAL: '100ms',
    BATON_CONFIG_YAML: 'server:\n  shutdown:\n    pre_shutdown_delay: 0s\n',
  });
  // The server migrates before it reports ready; the trigger goes on the table it created.
  await untilReady(server);
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(`
    create table public.deleted_sessions (id text, last_active_at timestamptz, expires_at timestamptz, deleted_at timestamptz);
    create function public.record_delete() returns trigger language plpgsql as $$
      begin
        insert into public.deleted_sessions values (old.id, old.last_active_at, old.expires_at, clock_timestamp());
        return old;
      end $$;
    create trigger record_delete before delete on baton.sessions for each row execute function public.record_delete();`);
});

afterAll(async () => {
  await admin?.end();
  await server?.stop('SIGTERM');
  await db?.drop();
});

it('requests near the idle limit never get 404 while cleanup loops', async () => {
  const sessions = Array.from({ length: SESSIONS }, () => new RawSession(fetch, server.url));
  const initialized = Date.now();
  await Promise.all(sessions.map((s) => s.initialize()));
  expect(sessions.every((s) => s.id !== '')).toBe(true);

  const cleaner = new DatabaseSessionStore(openPg({ dsn: db.url, statementTimeoutMs: 5_000 }), {
    ttlMs: 3_600_000,
    idleTimeoutMs: IDLE_MS,
  });
  const until = Date.now() + HAMMER_MS;
  const failures: string[] = [];
  /** 404s answered after the session's earliest possible deadline: slow, not wrong (checked below). */
  const late: { session: number; round: number; latencyMs: number }[] = [];
  let answered = 0;
  let removedBySecondCleaner = 0;
  let dead = 0;

  // Dead rows keep arriving, so that every cleanup run deletes (and locks) rows next to live ones.
  const feeder = (async () => {
    while (Date.now() < until) {
      const inserted = await admin.query(`
        insert into baton.sessions (id, expires_at, last_active_at, protocol_version, client_capabilities, client_info)
        select 'dead-' || gen_random_uuid(), now() + interval '1 hour', now() - interval '1 hour', '2025-11-25', '{}', '{}'
        from generate_series(1, 200)`);
      dead += inserted.rowCount ?? 0;
      await sleep(100);
    }
  })();

  const secondCleaner = (async () => {
    while (Date.now() < until) removedBySecondCleaner += (await cleaner.cleanup({ batchSize: 50 })).removed;
  })();

  const clients = sessions.map(async (session, index) => {
    // The session's last activity is at least this recent, so it lives at least until + IDLE_MS.
    let lastSent = initialized;
    // Alternate a request that only touches the session with one that also writes state.
    for (let round = 0; Date.now() < until; round++) {
      const margin = MARGIN_MS.min + Math.random() * (MARGIN_MS.max - MARGIN_MS.min);
      await sleep(Math.max(0, lastSent + IDLE_MS - margin - Date.now()));
      const earliestEnd = lastSent + IDLE_MS;
      const sentAt = Date.now();
      const { status } =
        round % 2 === 0
          ? await session.request('tools/list')
          : await session.request('logging/setLevel', { level: round % 4 === 1 ? 'info' : 'debug' });
      const latencyMs = Date.now() - sentAt;
      answered++;
      if (status === 200) {
        lastSent = sentAt;
        continue;
      }
      if (status === 404 && Date.now() >= earliestEnd) {
        late.push({ session: index, round, latencyMs });
        return; // the session has ended; nothing more to send in it
      }
      failures.push(
        `session ${index}, round ${round}: ${status} after ${latencyMs} ms, sent ${earliestEnd - sentAt} ms before its earliest end`,
      );
    }
  });

  await Promise.all([...clients, feeder, secondCleaner]);
  await cleaner.close();

  const ids = sessions.map((s) => s.id);
  const { rows: deletedLive } = await admin.query(
    `select id, deleted_at - last_active_at as idle_for, expires_at - deleted_at as lifetime_left from public.deleted_sessions
     where id = any($1) and last_active_at + $2 * interval '1 millisecond' > deleted_at and expires_at > deleted_at`,
    [ids, IDLE_MS],
  );
  const lateIds = new Set(late.map((l) => sessions[l.session]!.id));
  const { rows: missing } = await admin.query(
    'select wanted.id from unnest($1::text[]) as wanted(id) where not exists (select 1 from baton.sessions s where s.id = wanted.id)',
    [ids.filter((id) => !lateIds.has(id))],
  );

  const intervalRuns = server.logs.join('').split('"msg":"cleanup"').length - 1;
  console.log(
    `cleanup race: ${answered} requests in ${SESSIONS} sessions near their idle limit; ${dead} dead rows fed, ` +
      `${removedBySecondCleaner} removed by the second cleaner, ${intervalRuns} interval runs logged with removals; ` +
      `${late.length} sessions ended because an answer took longer than the margin (max ${Math.max(0, ...late.map((l) => l.latencyMs))} ms)`,
  );
  expect(failures).toEqual([]);
  expect(deletedLive).toEqual([]);
  // Every session is still there, except those whose request arrived after their end.
  expect(missing).toEqual([]);
  expect(answered - late.length).toBeGreaterThan(SESSIONS * 3);
  expect(removedBySecondCleaner).toBeGreaterThan(0);
  expect(intervalRuns).toBeGreaterThan(0);
});
