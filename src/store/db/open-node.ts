// Chooses and opens the database driver on the Node server: embedded PGlite when no DSN is given,
// node-postgres for a DSN, neon-http when asked for explicitly (database.driver). Only the driver
// chosen is loaded: a server on pg never holds PGlite's code, nor one on PGlite pg's, and neither
// needs the other installed.
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { Database, DriverName } from './database.js';
import { importDriver } from './optional-driver.js';
import { withStatementSpans } from './traced.js';

export function nodeDriver(config: Config): DriverName {
  if (config.database.driver !== 'auto') return config.database.driver;
  return config.database.dsn ? 'pg' : 'pglite';
}

export async function openNodeDatabase(config: Config, logger?: Logger): Promise<Database> {
  return withStatementSpans(await openDriver(config, logger));
}

async function openDriver(config: Config, logger?: Logger): Promise<Database> {
  const { dsn, direct_dsn, pooler, statement_timeout, pglite_dir, http_endpoint } = config.database;
  switch (nodeDriver(config)) {
    case 'pg': {
      const { openPg } = await importDriver('pg', () => import('./drivers/pg.js'));
      return openPg({ dsn, directDsn: direct_dsn || undefined, pooler, statementTimeoutMs: statement_timeout, logger });
    }
    case 'neon-http': {
      const { openNeonHttp } = await import('./drivers/neon-http.js');
      return openNeonHttp({ dsn, statementTimeoutMs: statement_timeout, httpEndpoint: http_endpoint || undefined });
    }
    case 'pglite': {
      const { openPglite } = await importDriver('pglite', () => import('./drivers/pglite.js'));
      return openPglite({ dir: pglite_dir });
    }
  }
}
