// A polling channel reads at most a page of messages per topic and statement. When one topic fills
// its page, no other topic may skip ahead: a message of another topic can be stamped before the
// page's last row and yet commit after the read (publishing stamps `at` under the topic's lock,
// not at commit). The interleaving is forced, not hoped for: a plain connection holds such a
// message's transaction open while a page of another topic is read, and commits afterwards.
// Both polling paths run: neon-http, and pg through a pooler in transaction mode without a direct
// URL (it cannot LISTEN there, so it polls).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { publishing } from '../src/store/channel/database.js';
import type { Message } from '../src/store/channel/types.js';
import { driverDatabases } from './helpers/drivers.js';
import { deferred } from './helpers/gate.js';
import { startPgBouncer, type PgBouncer } from './helpers/pgbouncer.js';

const LIMITS = { ttlMs: 3_600_000, idleTimeoutMs: 3_600_000 };
/** More than the poll's page (500 rows): the first read of the topic is a full page. */
const BURST = 600;

const { made, setups } = driverDatabases('baton_paging');
let bouncer: PgBouncer;

beforeAll(async () => {
  bouncer = await startPgBouncer();
});
afterAll(async () => {
  await bouncer?.close();
});

const polling = [
  { name: 'neon-http', url: () => made.neonDb.url, database: () => setups.find((s) => s.name === 'neon-http')!.database() },
  {
    name: 'pg through a pooler, without a direct URL',
    url: () => made.pgDb.url,
    database: () => ({ driver: 'pg', dsn: bouncer.rewrite(made.pgDb.url) }),
  },
];

/** Messages a subscription received, and a way to wait until they satisfy `done`. */
function collector() {
  const received: Message[] = [];
  let waiting: { done: () => boolean; resolve: () => void }[] = [];
  return {
    received,
    listener: (message: Message) => {
      received.push(message);
      for (const w of waiting.filter((w) => w.done())) w.resolve();
      waiting = waiting.filter((w) => !w.done());
    },
    until(done: () => boolean): Promise<void> {
      if (done()) return Promise.resolve();
      const d = deferred();
      waiting.push({ done, resolve: () => d.resolve() });
      return d.promise;
    },
  };
}

/** Runs a drizzle statement on a plain connection (inside whatever transaction it has open). */
const dialect = new PgDialect();
async function runOn(client: pg.Client, statement: SQL): Promise<Record<string, unknown>[]> {
  const { sql: text, params } = dialect.sqlToQuery(statement);
  return (await client.query(text, params as unknown[])).rows;
}

describe.each(polling)('the polling channel over $name, when a topic fills a page', (setup) => {
  it('still delivers a message of another topic stamped before the page ended but committed after it was read', async () => {
    const lines: { msg: string }[] = [];
    const logger = createLogger('warn', (line) => lines.push(JSON.parse(line)));
    const config = parseConfig({ sessions: { store: 'database' }, database: setup.database() }, {});
    const store = new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, { pollIntervalMs: 20, logger });
    const held = new pg.Client({ connectionString: setup.url() });
    const writer = new pg.Client({ connectionString: setup.url() });
    try {
      await store.ready();
      await Promise.all([held.connect(), writer.connect()]);
      const wakeup = store.channel.wakeup;
      const [a, b] = [`burst-${Math.random()}`, `quiet-${Math.random()}`];
      const [{ now: since }] = (await held.query(`select (extract(epoch from clock_timestamp()) * 1000000)::int8 as now`)).rows;

      // Another instance publishes on b, exactly as the store does, in a transaction that stays open.
      await held.query('begin');
      const [early] = await runOn(
        held,
        sql`with ${publishing(b, { n: 'early' }, wakeup)}
        select p.at, (select count(*) from notified) from published p`,
      );
      // Then a burst on a, stamped after it and committed at once: more than a page.
      await runOn(
        writer,
        sql`with burst as (select generate_series(1, ${BURST}) as n), ${publishing(a, { n: 'burst' }, wakeup, 'burst')}
          select count(*), (select count(*) from notified) from published`,
      );

      const burst = collector();
      const quiet = collector();
      store.channel.subscribe(a, burst.listener, { since: Number(since) });
      store.channel.subscribe(b, quiet.listener, { since: Number(since) });
      // Every message of the burst delivered: the reads that paged through it are over.
      await burst.until(() => burst.received.length >= BURST);
      await held.query('commit');
      const marker = await store.channel.publish(b, { n: 'marker' });
      await quiet.until(() => quiet.received.some((m) => m.position.id === marker.id));

      expect(Number(early!.at)).toBeLessThan(burst.received.at(-1)!.position.at);
      expect(quiet.received.map((m) => m.payload)).toEqual([{ n: 'early' }, { n: 'marker' }]);
      expect(burst.received).toHaveLength(BURST);
      expect(new Set(burst.received.map((m) => m.position.id)).size).toBe(BURST);
      if (setup.name !== 'neon-http') {
        expect(lines.map((l) => l.msg)).toContainEqual(
          expect.stringMatching(/^channel: messages between instances are read from the table/),
        );
      }
    } finally {
      await held.end().catch(() => {});
      await writer.end().catch(() => {});
      await store.close();
    }
  });
});
