// node-postgres for a datasource given by DSN on the Node server. A small pool of its own (the
// session store never shares it), every call one READ ONLY transaction that is rolled back.
import pg from 'pg';
import { errorText, withoutUrlPasswords, type Logger } from '../../../log.js';
import { RAW_TEXT, timeoutStatement, toStatementError, type Datasource, type RawResult, type Statement } from '../datasource.js';

export interface PgDatasourceOptions {
  dsn: string;
  statementTimeoutMs: number;
  poolSize?: number;
  /** Where a connection lost while idle in the pool is reported. */
  logger?: Logger;
}

export function openPgDatasource(options: PgDatasourceOptions): Datasource {
  const timeout = options.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: options.dsn,
    max: options.poolSize ?? 4,
    application_name: 'mcp-baton data tools',
    connectionTimeoutMillis: timeout,
    // The server stops a statement at the timeout; this only catches a server that stopped answering.
    query_timeout: timeout + 2_000,
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
  });
  // An idle connection that dies (server restart) is replaced on the next checkout; the error has
  // no request to go to (the next statement reports any lasting problem), so it goes to the log.
  pool.on('error', (error) => {
    options.logger?.warn('datasource: idle connection failed', { error: withoutUrlPasswords(errorText(error)) });
  });

  // pg sends text without parameters through the simple protocol, which runs several statements;
  // 'extended' makes it Parse/Bind/Execute, so a second statement is a syntax error.
  const run = (client: pg.PoolClient, statement: Statement) =>
    client.query<(string | null)[]>({
      text: statement.text,
      values: statement.params ?? [],
      rowMode: 'array',
      types: RAW_TEXT,
      queryMode: 'extended',
    } as pg.QueryArrayConfig);

  return {
    driver: 'pg',
    statementTimeoutMs: timeout,
    async readOnly(statements) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('begin read only');
        await run(client, timeoutStatement(timeout));
        const results: RawResult[] = [];
        for (const statement of statements) {
          const result = await run(client, statement);
          results.push({ fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })), rows: result.rows });
        }
        return results;
      } catch (error) {
        throw toStatementError(error);
      } finally {
        try {
          await client.query('rollback');
        } catch (error) {
          // The connection is unusable (timed out on the client side, or lost): drop it.
          broken = error as Error;
        }
        client.release(broken ?? false);
      }
    },
    close: () => pool.end(),
  };
}
