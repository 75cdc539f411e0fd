// node-postgres over TCP: the Node server against any Postgres, directly or through a connection
// pooler in transaction mode (PgBouncer, Neon's pooled URL, Supabase's pooler). Behind such a
// pooler consecutive transactions of one client run on different server connections, so nothing
// may rely on a connection's own state: statements are sent unnamed (a named prepared statement
// lives on one server connection), no setting travels in the startup packet (PgBouncer refuses
// unknown startup parameters), and what needs a connection of its own (LISTEN, migrations) uses
// the direct URL when one is given. Every request still costs one statement either way.
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { SQL } from 'drizzle-orm';
import { errorText, withoutUrlPasswords, type Logger } from '../../../log.js';
import {
  executeRows,
  sequentialTransaction,
  StatementCounter,
  type Connection,
  type Database,
  type Drizzle,
  type Listener,
  type PoolerMode,
} from '../database.js';

const dialect = new PgDialect();
// As drizzle's node-postgres driver does: timestamps reach the column mappers as text.
const TEXT_TYPES = new Set([1082, 1083, 1114, 1184, 1186, 1231]);
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    TEXT_TYPES.has(oid) ? (value: string) => value : pg.types.getTypeParser(oid, format as 'text'),
};

export interface PgOptions {
  dsn: string;
  /** A connection that is not pooled, for LISTEN and migrations (Neon's and Prisma's "direct URL"). */
  directDsn?: string;
  /** Whether `dsn` goes through a pooler in transaction mode; `auto` finds out on first use. */
  pooler?: PoolerMode;
  statementTimeoutMs: number;
  poolSize?: number;
  /** Where a connection lost while idle in the pool is reported. */
  logger?: Logger;
}

/**
 * What a connection URL says of a pooler by the providers' conventions: Neon's pooled host names
 * end their first label in `-pooler`, Supabase's transaction pooler listens on 6543, and Prisma's
 * `pgbouncer=true` marks any other.
 */
export function poolerHint(dsn: string): string | undefined {
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    return undefined;
  }
  if (url.searchParams.get('pgbouncer') === 'true') return 'the URL says pgbouncer=true';
  if (/^[^.]+-pooler(\.|$)/.test(url.hostname)) return 'the host is a Neon pooled host (…-pooler)';
  if (url.port === '6543') return 'port 6543 (Supabase’s transaction pooler)';
  return undefined;
}

/** `pgbouncer=true` is a marker for us (and Prisma), not a setting for the server. */
function withoutMarkers(dsn: string): string {
  try {
    const url = new URL(dsn);
    if (!url.searchParams.has('pgbouncer')) return dsn;
    url.searchParams.delete('pgbouncer');
    return url.toString();
  } catch {
    return dsn;
  }
}

export function openPg(options: PgOptions): Database {
  const dsn = withoutMarkers(options.dsn);
  const directDsn = options.directDsn ? withoutMarkers(options.directDsn) : undefined;
  const pool = new pg.Pool({
    connectionString: dsn,
    max: options.poolSize ?? 10,
    // Client-side bound. The server-side statement_timeout is added for direct connections only
    // (below): a pooler refuses it in the startup packet.
    query_timeout: options.statementTimeoutMs + 1_000,
    connectionTimeoutMillis: options.statementTimeoutMs,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (database restart) must not crash the process; the pool
  // replaces it, and operators learn of it here (the next statement reports a lasting problem).
  pool.on('error', (error) => {
    options.logger?.warn('session database: idle connection failed', { error: withoutUrlPasswords(errorText(error)) });
  });

  const statements = new StatementCounter();
  let connection: Connection | undefined;
  let finding: Promise<Connection> | undefined;
  /** Decides once, on the first connection, whether statements may be named. */
  const connectionKind = (): Promise<Connection> =>
    connection
      ? Promise.resolve(connection)
      : (finding ??= findConnection(dsn, options, statements)
          .then((found) => {
            // A direct connection carries the server-side timeout from its startup; the pool makes
            // its connections with these options, and has made none yet (every statement of the
            // store waits for this decision).
            if (!found.pooled) (pool as unknown as { options: pg.PoolConfig }).options.statement_timeout = options.statementTimeoutMs;
            return (connection = found);
          })
          .finally(() => (finding = undefined)));

  const db = drizzle({ client: pool, logger: statements }) as unknown as Drizzle;
  return {
    driver: 'pg',
    db,
    statements,
    connection: connectionKind,
    transaction: (list: SQL[]) => sequentialTransaction(db, list),
    async query(statement: SQL, name?: string) {
      const kind = await connectionKind();
      if (!name) return executeRows(db, statement);
      const { sql: text, params } = dialect.sqlToQuery(statement);
      statements.logQuery(text);
      // Unnamed, it is still one round trip (Parse, Bind, Execute); Postgres only plans it again.
      const result = await pool.query({ ...(!kind.pooled && { name }), text, values: params as unknown[], types });
      return result.rows as Record<string, unknown>[];
    },
    async listen(channel: string, onNotification: (payload: string) => void): Promise<Listener> {
      if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
      // Not from the pool: a LISTEN belongs to its connection, which must stay open and idle.
      const client = new pg.Client({
        connectionString: directDsn ?? dsn,
        connectionTimeoutMillis: options.statementTimeoutMs,
        keepAlive: true,
        // Names it in pg_stat_activity, for operators (and the test that cuts it).
        application_name: 'baton-listen',
      });
      const lost = new Promise<Error>((resolve) => {
        client.on('error', resolve);
        client.on('end', () => resolve(new Error('the listening connection ended')));
      });
      client.on('notification', (notification) => {
        if (notification.channel === channel) onNotification(notification.payload ?? '');
      });
      try {
        await client.connect();
        statements.logQuery(`listen ${channel}`);
        await client.query(`listen ${channel}`);
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      }
      return { lost, direct: directDsn !== undefined, close: () => client.end() };
    },
    ...(directDsn && {
      openDirect: () => openPg({ ...options, dsn: directDsn, directDsn: undefined, pooler: 'none', poolSize: 1 }),
    }),
    close: () => pool.end(),
  };
}

/**
 * Whether the store's connections go through a pooler. `auto` trusts the URL's conventions first,
 * then asks a connection of its own: a pooler answers the startup with a backend key of its own,
 * so the process id the client was given is not the one of the server process that runs its
 * statements.
 */
async function findConnection(dsn: string, options: PgOptions, statements: StatementCounter): Promise<Connection> {
  if (options.pooler === 'transaction') return { pooled: true, why: 'database.pooler is "transaction"' };
  if (options.pooler === 'none') return { pooled: false, why: 'database.pooler is "none"' };
  const hint = poolerHint(options.dsn);
  if (hint) return { pooled: true, why: hint };
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: options.statementTimeoutMs });
  await client.connect();
  try {
    const check = 'select pg_backend_pid() as pid';
    statements.logQuery(check);
    const [row] = (await client.query<{ pid: number }>(check)).rows;
    const announced = (client as unknown as { processID?: number }).processID;
    if (row?.pid !== announced) return { pooled: true, why: 'the server process differs from the one the connection announced' };
    return { pooled: false, why: 'the connection is the server process itself' };
  } finally {
    await client.end().catch(() => {});
  }
}
