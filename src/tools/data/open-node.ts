// The Node server's datasource: pg for datasource.dsn, else the demo dataset in an embedded,
// in-memory PGlite, built from its seed when the data tools are first used. The catalog file named
// in datasource.catalog is read here, at start: a missing or invalid file stops start-up. The
// driver is loaded when the datasource is first opened, and only the one the configuration uses.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { ConfigError } from '../../config/errors.js';
import { importDriver } from '../../store/db/optional-driver.js';
import type { DataSetup } from './datasource.js';
import { demoCatalog, demoSql, DEMO_CATALOG_PATH } from './demo/index.js';
import { splitStatements } from './sql/lexer.js';

export async function openNodeDatasource(config: Config, logger: Logger): Promise<DataSetup> {
  const { dsn, statement_timeout: statementTimeoutMs, catalog } = config.datasource;
  let catalogText: string | undefined;
  let catalogSource: string | undefined;
  if (catalog) {
    catalogSource = resolve(catalog);
    try {
      catalogText = readFileSync(catalogSource, 'utf8');
    } catch (error) {
      throw new ConfigError('datasource.catalog', [
        { path: 'datasource.catalog', message: `cannot read ${catalogSource}: ${(error as Error).message}` },
      ]);
    }
  } else if (!dsn) {
    catalogText = demoCatalog();
    catalogSource = DEMO_CATALOG_PATH;
  }
  const datasource = dsn
    ? async () => (await importDriver('pg', () => import('./drivers/pg.js'))).openPgDatasource({ dsn, statementTimeoutMs, logger })
    : async () => (await import('./drivers/pglite.js')).openPgliteDatasource({ seed: splitStatements(demoSql()), statementTimeoutMs });
  return { datasource, catalogText, catalogSource };
}
