// The datasource on Workers and Vercel: neon-http for datasource.dsn. There is no demo dataset
// here (PGlite is a Node-server convenience) and no filesystem for a catalog file, so without a
// DSN the data tools answer that one is needed, and a catalog file setting stops start-up.
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../config/errors.js';
import { DatasourceUnavailableError, type DataSetup, type Datasource } from './datasource.js';
import { checkNeonUrl } from '../../store/db/drivers/neon-http.js';
import { openNeonHttpDatasource } from './drivers/neon-http.js';

export const NO_DATASOURCE_MESSAGE =
  'The data tools need a datasource on this runtime: set datasource.dsn (environment variable DATASOURCE_URL) to a Postgres URL. ' +
  'The embedded demo dataset exists only on the Node server.';

export async function openEdgeDatasource(config: Config): Promise<DataSetup> {
  const { dsn, statement_timeout: statementTimeoutMs, catalog } = config.datasource;
  if (catalog) {
    throw new ConfigError('datasource.catalog', [
      {
        path: 'datasource.catalog',
        message:
          'catalog files are read by the Node server only (Workers and Vercel functions have no files to read at run time); leave it empty here',
      },
    ]);
  }
  if (dsn && !config.auth.required && !config.datasource.allow_unauthenticated) {
    throw new ConfigError('datasource.dsn', [
      {
        path: 'datasource.dsn',
        message:
          'on Workers and Vercel the datasource is refused to callers nobody authenticated, since that would publish the database to ' +
          'the internet: require credentials with auth.required: true and auth.api_keys or auth.jwt (BATON_AUTH_REQUIRED=true and ' +
          'BATON_API_KEYS), or, to serve it to anyone on purpose, set datasource.allow_unauthenticated: true ' +
          '(DATASOURCE_ALLOW_UNAUTHENTICATED=true)',
      },
    ]);
  }
  // Checked now, not at the first query: a URL neon-http cannot serve stops start-up like any
  // other bad setting.
  if (dsn && !config.database.http_endpoint) checkNeonUrl(dsn, 'datasource.dsn');
  const datasource = async (): Promise<Datasource> => {
    if (!dsn) throw new DatasourceUnavailableError(NO_DATASOURCE_MESSAGE);
    return openNeonHttpDatasource({ dsn, statementTimeoutMs, httpEndpoint: config.database.http_endpoint || undefined });
  };
  return { datasource, catalogText: undefined, catalogSource: undefined };
}
