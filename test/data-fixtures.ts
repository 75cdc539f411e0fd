// A datasource for the data tool tests: a fresh Postgres database holding the demo shop (the same
// file the embedded demo loads), the platform's own schema with a session whose state must never
// show, and a few objects that exist only to be refused.
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { demoSql } from '../src/tools/data/demo/index.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { migrate } from '../src/store/db/migrate.js';

export const SECRET_STATE = 'do-not-leak-7f3a';

export async function createShopDatabase(prefix = 'baton_data'): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  const database = openPg({ dsn: db.url, statementTimeoutMs: 10_000 });
  try {
    await migrate(database);
  } finally {
    await database.close();
  }
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    // The simple protocol runs the whole file at once.
    await client.query(demoSql());
    await client.query(`
      insert into baton.sessions (id, expires_at, protocol_version, client_capabilities, client_info, state)
      values ('secret-session', now() + interval '1 hour', '2025-11-25', '{}', '{}', '{"note": "${SECRET_STATE}"}');
      create sequence public.ticket_seq;
      create view public.session_peek as select id, state from baton.sessions;
      create extension if not exists dblink;
    `);
  } finally {
    await client.end();
  }
  return db;
}
