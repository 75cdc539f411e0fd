// A fresh Postgres database per test run on the build machine's server (127.0.0.1:5432, user
// postgres, trust auth), dropped afterwards. Tests never rely on leftovers.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_URL = process.env.BATON_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** Connection URL for the new database (same server and user as ADMIN_URL). */
  url: string;
  name: string;
  /** Drops the database, terminating any connection still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function withAdmin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(prefix = 'baton_test'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await withAdmin((client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${encodeURIComponent(name)}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop() {
      dropped ??= withAdmin(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      });
      return dropped;
    },
  };
}
