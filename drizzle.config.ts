import { defineConfig } from 'drizzle-kit';

// No fallback: a guessed database is one that `npm run db:migrate` would change by mistake.
// Generating migrations (`npm run db:generate`) reads only the schema and needs no database.
const url = process.env.DATABASE_URL?.trim() ?? '';
const offline = process.argv.some((arg) => arg === 'generate' || arg === 'check');
if (!url && !offline) {
  throw new Error(
    'DATABASE_URL is not set: drizzle-kit needs the Postgres to work on, e.g. DATABASE_URL=postgres://user:password@host:5432/db npm run db:migrate',
  );
}

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url },
  // drizzle-kit's defaults, spelled out: the bundled migrator writes the same journal table.
  migrations: { schema: 'drizzle', table: '__drizzle_migrations' },
});
