// `npm run dev`: the Worker in `wrangler dev` with the database store, its neon-http driver
// talking to the local Neon endpoint, which keeps data in embedded PGlite (.data/dev-pglite) or,
// when DATABASE_URL points at a Postgres, in that server. No services to install; the production
// driver code is what runs. Extra arguments go to wrangler (e.g. --port 8787).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { demoSql } from '../src/tools/data/demo/index.js';

/** Loads the demo shop into the dev database once, so the data tools have something to show. */
async function seedDemo(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  try {
    const { rows } = await db.query<{ present: boolean }>(`select to_regclass('public.customers') is not null as present`);
    if (!rows[0]?.present) {
      await db.exec(demoSql());
      console.log('loaded the demo shop dataset into .data/dev-pglite');
    }
  } finally {
    await db.close();
  }
}

const root = fileURLToPath(new URL('..', import.meta.url));
const postgresUrl = process.env.DATABASE_URL || undefined;
const pgliteDir = `${root}.data/dev-pglite`;
if (!postgresUrl) await seedDemo(pgliteDir);
const endpoint = await startNeonEndpoint(postgresUrl ? { postgresUrl } : { pgliteDir });
const database = postgresUrl ? new URL(postgresUrl).pathname.slice(1) || 'postgres' : 'postgres';
console.log(`local Neon endpoint: ${endpoint.url} (${postgresUrl ? 'Postgres' : 'embedded PGlite in .data/dev-pglite'})`);

const vars: Record<string, string> = {
  SESSIONS_STORE: process.env.SESSIONS_STORE ?? 'database',
  DATABASE_URL: endpoint.connectionString(database),
  DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
  BATON_ALLOWED_HOSTS: process.env.BATON_ALLOWED_HOSTS ?? 'localhost,127.0.0.1,[::1]',
  ...(process.env.BATON_TOOLSETS !== undefined && { BATON_TOOLSETS: process.env.BATON_TOOLSETS }),
  // The data tools query the same database through the same endpoint: with embedded PGlite it
  // holds the demo shop; with your Postgres, whatever DATASOURCE_URL (or DATABASE_URL) names.
  DATASOURCE_URL: process.env.DATASOURCE_URL ?? endpoint.connectionString(database),
  // Local only (wrangler listens on 127.0.0.1): serving the data tools without credentials is
  // meant here; a deployed Worker refuses it unless told the same.
  DATASOURCE_ALLOW_UNAUTHENTICATED: process.env.DATASOURCE_ALLOW_UNAUTHENTICATED ?? 'true',
};
const args = ['dev', '--ip', '127.0.0.1', ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]), ...process.argv.slice(2)];
const wrangler = spawn(`${root}node_modules/.bin/wrangler`, args, { cwd: root, stdio: 'inherit' });

const stop = async () => {
  wrangler.kill('SIGTERM');
  await endpoint.close();
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
wrangler.on('exit', async (code) => {
  await endpoint.close();
  process.exit(code ?? 0);
});
