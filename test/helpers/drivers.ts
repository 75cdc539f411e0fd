// The two database drivers instances talk through, for a test file: a pg database, and a second
// database reached by neon-http through a local Neon endpoint, made before the file's tests and
// dropped after them. Call at the top level of a test file.
import { afterAll, beforeAll } from 'vitest';
import { startNeonEndpoint } from '../../src/dev/neon-endpoint/index.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './db.js';

export interface DriverDatabases {
  pgDb: TestDatabase;
  neonDb: TestDatabase;
  endpoint: Awaited<ReturnType<typeof startNeonEndpoint>>;
}

export interface DriverSetup {
  name: 'pg' | 'neon-http';
  /** The database's own URL (for a plain pg client looking at what the platform stored). */
  url: () => string;
  /** The `database` settings that reach it through the driver. */
  database: () => Record<string, unknown>;
}

export function driverDatabases(prefix: string): { made: DriverDatabases; setups: DriverSetup[] } {
  const made = {} as DriverDatabases;
  beforeAll(async () => {
    [made.pgDb, made.neonDb] = await Promise.all([createTestDatabase(prefix), createTestDatabase(`${prefix}_neon`)]);
    made.endpoint = await startNeonEndpoint({ postgresUrl: ADMIN_URL });
  });
  afterAll(async () => {
    await made.endpoint?.close();
    await Promise.all([made.pgDb?.drop(), made.neonDb?.drop()]);
  });
  const setups: DriverSetup[] = [
    { name: 'pg', url: () => made.pgDb.url, database: () => ({ driver: 'pg', dsn: made.pgDb.url }) },
    {
      name: 'neon-http',
      url: () => made.neonDb.url,
      database: () => ({
        driver: 'neon-http',
        dsn: made.endpoint.connectionString(made.neonDb.name),
        http_endpoint: made.endpoint.fetchEndpoint,
      }),
    },
  ];
  return { made, setups };
}
