// Opens the database on Workers and Vercel: neon-http only (no TCP pools, no filesystem).
import type { Config } from '../../config/schema.js';
import type { Database } from './database.js';
import { openNeonHttp } from './drivers/neon-http.js';
import { withStatementSpans } from './traced.js';

export async function openEdgeDatabase(config: Config): Promise<Database> {
  const { driver, dsn, statement_timeout, http_endpoint } = config.database;
  if (driver !== 'auto' && driver !== 'neon-http') {
    throw new Error(`database.driver: "${driver}" is not available on this runtime; use "neon-http" (or "auto")`);
  }
  if (!dsn) throw new Error('database.dsn: the database store needs DATABASE_URL on this runtime');
  return withStatementSpans(openNeonHttp({ dsn, statementTimeoutMs: statement_timeout, httpEndpoint: http_endpoint || undefined }));
}
