// Applies the bundled migrations. One cheap statement decides whether anything is to do (the
// migration check every fresh instance pays once); if so, everything runs as one transaction under
// an advisory lock, so instances starting together apply each migration exactly once. Rules and
// journal table are drizzle's own: a migration is applied when its timestamp is newer than the
// newest recorded one, and recorded as (hash, created_at) in drizzle.__drizzle_migrations.
import { sql } from 'drizzle-orm';
import { MIGRATIONS, type BundledMigration } from './migrations.generated.js';
import { rowsOf, type Database } from './database.js';

const JOURNAL = 'drizzle.__drizzle_migrations';
// Any constant works; it only has to be the same for every instance of this platform.
const LOCK_KEY = 7_316_220_451;

export interface MigrationReport {
  applied: string[];
  checked: boolean;
}

export async function pendingMigrations(database: Database, migrations = MIGRATIONS): Promise<BundledMigration[]> {
  let newest = 0;
  try {
    const rows = rowsOf<{ newest: string | number | null }>(
      await database.db.execute(sql.raw(`select max(created_at) as newest from ${JOURNAL}`)),
    );
    newest = Number(rows[0]?.newest ?? 0);
  } catch (error) {
    // 42P01 undefined table / 3F000 undefined schema: nothing was ever applied.
    const code = findCode(error);
    if (code !== '42P01' && code !== '3F000') throw error;
  }
  return migrations.filter((m) => m.folderMillis > newest);
}

export async function migrate(database: Database, migrations = MIGRATIONS): Promise<MigrationReport> {
  const pending = await pendingMigrations(database, migrations);
  if (pending.length === 0) return { applied: [], checked: true };
  await database.transaction([
    sql`select pg_advisory_xact_lock(${LOCK_KEY})`,
    sql.raw('create schema if not exists drizzle'),
    sql.raw(`create table if not exists ${JOURNAL} (id serial primary key, hash text not null, created_at bigint)`),
    // Each migration re-checks the journal after the lock is held: a concurrent instance may have
    // applied it while this one waited.
    ...pending.map((m) => sql.raw(guarded(m))),
  ]);
  return { applied: pending.map((m) => m.tag), checked: true };
}

function guarded(migration: BundledMigration): string {
  const body = migration.statements.map((statement) => `  execute ${dollarQuote(statement)};`).join('\n');
  return [
    `do ${'$migrate$'} begin`,
    `if not exists (select 1 from ${JOURNAL} where created_at >= ${migration.folderMillis}) then`,
    body,
    `  insert into ${JOURNAL} (hash, created_at) values ('${migration.hash}', ${migration.folderMillis});`,
    'end if;',
    `end ${'$migrate$'}`,
  ].join('\n');
}

function dollarQuote(text: string): string {
  let tag = '$stmt$';
  for (let i = 0; text.includes(tag); i++) tag = `$stmt${i}$`;
  return `${tag}${text}${tag}`;
}

function findCode(error: unknown): string | undefined {
  for (let e: any = error; e; e = e.cause) if (typeof e.code === 'string') return e.code;
  return undefined;
}
