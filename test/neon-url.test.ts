// Which connection URLs the neon-http driver can serve, decided before any request: it sends a
// URL's queries to an endpoint derived from the host (Neon's naming), so a plain Postgres URL (an
// IP address, localhost, a container's name) is a configuration error naming the setting, on the
// session store and on the edge datasource alike. No database is contacted here. The Worker's
// answers for such a URL are in test/worker.test.ts.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { ConfigError } from '../src/config/errors.js';
import { checkNeonUrl } from '../src/store/db/drivers/neon-http.js';
import { openEdgeDatasource } from '../src/tools/data/open-edge.js';

describe('checkNeonUrl', () => {
  it.each([
    ['postgres://app:pw@127.0.0.1:5432/app', 'https://api.0.0.1/sql'],
    ['postgres://app:pw@localhost/app', 'https://localhost/sql'],
    ['postgres://app:pw@[::1]:5433/app', 'https://[::1]/sql'],
    ['postgresql://app:pw@db/app', 'https://db/sql'],
  ])('refuses %s, naming the key and the endpoint it would use', (dsn, endpoint) => {
    let error: unknown;
    try {
      checkNeonUrl(dsn, 'database.dsn');
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const [issue] = (error as ConfigError).issues;
    expect(issue!.path).toBe('database.dsn');
    expect(issue!.message).toContain(endpoint);
    expect(issue!.message).toContain('database.http_endpoint (DATABASE_HTTP_ENDPOINT)');
    expect((error as Error).message).not.toContain(':pw@');
  });

  it.each([
    'postgres://app:pw@ep-cool-name-123456.us-east-2.aws.neon.tech/neondb?sslmode=require',
    'postgres://app:pw@ep-cool-name-123456-pooler.eastus2.azure.neon.tech/neondb',
    'postgres://app:pw@ep-cool-name-123456-pooler.us-east-1.postgres.vercel-storage.com/verceldb',
  ])('accepts %s', (dsn) => {
    expect(() => checkNeonUrl(dsn, 'database.dsn')).not.toThrow();
  });

  it('stops the edge datasource at start-up, naming datasource.dsn', async () => {
    const config = parseConfig({ datasource: { dsn: 'postgres://app:pw@127.0.0.1:5432/app', allow_unauthenticated: true } }, {}, 'test', {
      storeFollowsDatabase: true,
    });
    await expect(openEdgeDatasource(config)).rejects.toThrow(/datasource\.dsn: the neon-http driver/);
  });
});
