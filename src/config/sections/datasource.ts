/** `datasource`: the Postgres database the data tools query (not the session store's). */
import { z } from 'zod';
import { boolean, duration, integer, MAX_TIMER_MS, postgresUrl } from '../values.js';

export const datasourceSection = z.strictObject({
  /** Postgres the data tools query; empty = the embedded demo dataset (Node only). */
  dsn: postgresUrl().default(''),
  statement_timeout: duration({ positive: true, max: MAX_TIMER_MS }).default(5_000),
  /** Rows a query result carries at most. */
  row_limit: integer(1, 100_000, 'a whole number between 1 and 100000').default(200),
  /** Optional catalog file (YAML): owners, tags, glossary terms, deprecation notes. */
  catalog: z.string().default(''),
  /**
   * Workers and Vercel refuse to serve a datasource to callers nobody authenticated (that would
   * publish the database to the internet) unless this says it is meant.
   */
  allow_unauthenticated: boolean().default(false),
});
