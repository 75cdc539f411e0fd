// Where the endpoint's statements run: a real Postgres server through node-postgres (one pool per
// database named in the request), or an embedded PGlite. Both run every statement with the extended
// query protocol (Parse/Bind/Describe/Execute/Sync) and text-format results, as Neon's proxy does,
// so a string with several statements fails with 42601 and values come back as Postgres text.
import pg from 'pg';
import { textField, type QueryData, type RawResult } from '../../store/db/pglite-wire.js';

export { PgliteWire } from '../../store/db/pglite-wire.js';

export interface Backend {
  readonly kind: 'pg' | 'pglite';
  /** One statement, in autocommit. */
  query(database: string, query: QueryData): Promise<RawResult>;
  /** Statements in one transaction opened with `begin`; rolled back entirely if any fails. */
  batch(database: string, queries: QueryData[], begin: string): Promise<RawResult[]>;
  close(): Promise<void>;
}

// ---- node-postgres -----------------------------------------------------------------------------

/** Every value as the text Postgres sent: the driver on the other end parses it. */
const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/**
 * pg 8 uses the simple query protocol unless a query has values, a name, or `queryMode: 'extended'`
 * (`values: []` alone is not enough: `requiresPreparation()` sees an empty array and sends a simple
 * Query, which runs several statements). `queryMode: 'extended'` is honored by pg's Query but is
 * missing from @types/pg, hence the cast.
 */
function pgQueryConfig(query: QueryData): pg.QueryArrayConfig {
  return {
    text: query.query,
    values: query.params,
    rowMode: 'array',
    types: RAW_TEXT_TYPES,
    queryMode: 'extended',
  } as pg.QueryArrayConfig;
}

function fromPgResult(result: pg.QueryArrayResult<(string | null)[]>): RawResult {
  return {
    fields: result.fields.map(textField),
    rows: result.rows,
    // pg reads the command tag as Neon does: the first word, then the last number (if any).
    command: result.command ?? '',
    rowCount: result.rowCount ?? null,
  };
}

export interface PgBackendOptions {
  /** Connections per database. */
  maxConnections?: number;
  onIdleError?: (error: Error, database: string) => void;
}

export class PgBackend implements Backend {
  readonly kind = 'pg' as const;
  private readonly pools = new Map<string, pg.Pool>();
  private closed = false;

  constructor(
    private readonly postgresUrl: string,
    private readonly options: PgBackendOptions = {},
  ) {
    // Validate early: a bad URL is a startup error, not a per-request one.
    new URL(postgresUrl);
  }

  /** The configured server's URL with its database replaced (keeps user, password, sslmode...). */
  urlFor(database: string): string {
    const url = new URL(this.postgresUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    return url.toString();
  }

  private pool(database: string): pg.Pool {
    if (this.closed) throw new Error('neon endpoint backend is closed');
    let pool = this.pools.get(database);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: this.urlFor(database),
        max: this.options.maxConnections ?? 10,
        idleTimeoutMillis: 30_000,
        allowExitOnIdle: true,
      });
      // An idle connection that dies (server restart, DROP DATABASE ... WITH (FORCE)) must not
      // crash the process; the pool replaces it on the next checkout.
      pool.on('error', (error) => this.options.onIdleError?.(error, database));
      this.pools.set(database, pool);
    }
    return pool;
  }

  async query(database: string, query: QueryData): Promise<RawResult> {
    const result = await this.pool(database).query<(string | null)[]>(pgQueryConfig(query));
    return fromPgResult(result);
  }

  async batch(database: string, queries: QueryData[], begin: string): Promise<RawResult[]> {
    const client = await this.pool(database).connect();
    let broken: Error | undefined;
    try {
      await client.query(begin);
      const results: RawResult[] = [];
      for (const query of queries) {
        results.push(fromPgResult(await client.query<(string | null)[]>(pgQueryConfig(query))));
      }
      await client.query('COMMIT');
      return results;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is unusable (the original error was probably a network one): drop it.
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      client.release(broken ?? false);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.end()));
  }
}
