import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
  // drizzle-kit's defaults, spelled out: the bundled migrator writes the same journal table.
  migrations: { schema: 'drizzle', table: '__drizzle_migrations' },
});
