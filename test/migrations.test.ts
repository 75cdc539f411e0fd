// The bundled migrator and drizzle-kit share one journal: either can follow the other, and the
// bundled copy of drizzle/ is up to date.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { GENERATED, renderMigrations } from '../scripts/bundle-migrations.js';
import { migrate, pendingMigrations } from '../src/store/db/migrate.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { MIGRATIONS } from '../src/store/db/migrations.generated.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT } from './helpers/server.js';

const run = promisify(execFile);

async function drizzleKitMigrate(url: string): Promise<void> {
  await run(`${ROOT}node_modules/.bin/drizzle-kit`, ['migrate'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url } });
}

async function journal(url: string): Promise<{ hash: string; created_at: string }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('select hash, created_at from drizzle.__drizzle_migrations order by id')).rows;
  } finally {
    await client.end();
  }
}

describe('migrations', () => {
  let a: TestDatabase;
  let b: TestDatabase;
  beforeAll(async () => {
    [a, b] = await Promise.all([createTestDatabase('baton_mig_a'), createTestDatabase('baton_mig_b')]);
  });
  afterAll(async () => {
    await Promise.all([a?.drop(), b?.drop()]);
  });

  it('bundles exactly what drizzle/ holds (run `npm run db:generate` after changing the schema)', () => {
    expect(readFileSync(GENERATED, 'utf8')).toBe(renderMigrations());
  });

  it('drizzle-kit migrate, then the bundled migrator finds nothing to do', async () => {
    await drizzleKitMigrate(a.url);
    const database = openPg({ dsn: a.url, statementTimeoutMs: 5_000 });
    try {
      expect(await pendingMigrations(database)).toEqual([]);
      expect((await migrate(database)).applied).toEqual([]);
    } finally {
      await database.close();
    }
    const rows = await journal(a.url);
    expect(rows.map((r) => r.hash)).toEqual(MIGRATIONS.map((m) => m.hash));
  });

  it('the bundled migrator, then drizzle-kit migrate finds nothing to do', async () => {
    const database = openPg({ dsn: b.url, statementTimeoutMs: 5_000 });
    try {
      expect((await migrate(database)).applied).toEqual(MIGRATIONS.map((m) => m.tag));
      expect((await migrate(database)).applied).toEqual([]);
    } finally {
      await database.close();
    }
    await drizzleKitMigrate(b.url);
    const rows = await journal(b.url);
    expect(rows).toHaveLength(MIGRATIONS.length);
    expect(rows.map((r) => Number(r.created_at))).toEqual(MIGRATIONS.map((m) => m.folderMillis));
  });
});
