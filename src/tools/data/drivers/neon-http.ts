// Neon's HTTP query endpoint (@neondatabase/serverless) for the datasource on Workers and Vercel.
// A call is one HTTPS request: the driver's read-only batch mode, which wraps the statements in a
// READ ONLY transaction on the server and sends each through the extended protocol.
import { neon } from '@neondatabase/serverless';
import { useFetchEndpoint } from '../../../store/db/drivers/neon-http.js';
import { RAW_TEXT, timeoutStatement, toStatementError, type Datasource } from '../datasource.js';

export interface NeonHttpDatasourceOptions {
  dsn: string;
  statementTimeoutMs: number;
  /**
   * Send queries here instead of Neon (the local endpoint in dev and tests). The driver has one
   * endpoint per process (see useFetchEndpoint), shared with the session store's neon-http client;
   * the timeout is this client's own.
   */
  httpEndpoint?: string;
}

export function openNeonHttpDatasource(options: NeonHttpDatasourceOptions): Datasource {
  useFetchEndpoint(options.httpEndpoint, 'database.http_endpoint');
  const timeout = options.statementTimeoutMs;
  const sql = neon(options.dsn, { arrayMode: true, fullResults: true });
  return {
    driver: 'neon-http',
    statementTimeoutMs: timeout,
    async readOnly(statements) {
      // Type parsers are taken from each query's options in a batch, not from the batch's.
      const queries = [timeoutStatement(timeout), ...statements].map((s) => sql.query(s.text, s.params ?? [], { types: RAW_TEXT }));
      try {
        const [, ...results] = await sql.transaction(queries, {
          readOnly: true,
          arrayMode: true,
          fullResults: true,
          // The server stops a statement at the timeout; this only catches an endpoint that stopped answering.
          fetchOptions: { signal: AbortSignal.timeout(timeout + 5_000) },
        });
        return results.map((r) => ({
          fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
          rows: r.rows as (string | null)[][],
        }));
      } catch (error) {
        throw toStatementError(error);
      }
    },
    async close() {},
  };
}
