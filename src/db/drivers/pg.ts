// node-postgres over TCP: the Node server against any Postgres, pooled.
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { SQL } from 'drizzle-orm';
import { errorText, withoutUrlPasswords, type Logger } from '../../log.js';
import { executeRows, sequentialTransaction, StatementCounter, type Database, type Drizzle, type Listener } from '../database.js';

const dialect = new PgDialect();
// As drizzle's node-postgres driver does: timestamps reach the column mappers as text.
const TEXT_TYPES = new Set([1082, 1083, 1114, 1184, 1186, 1231]);
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    TEXT_TYPES.has(oid) ? (value: string) => value : pg.types.getTypeParser(oid, format as 'text'),
};

export interface PgOptions {
  dsn: string;
  statementTimeoutMs: number;
  poolSize?: number;
  /** Where a connection lost while idle in the pool is reported. */
  logger?: Logger;
}

export function openPg(options: PgOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.dsn,
    max: options.poolSize ?? 10,
    statement_timeout: options.statementTimeoutMs,
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
  const db = drizzle({ client: pool, logger: statements }) as unknown as Drizzle;
  return {
    driver: 'pg',
    db,
    statements,
    transaction: (list: SQL[]) => sequentialTransaction(db, list),
    async query(statement: SQL, name?: string) {
      if (!name) return executeRows(db, statement);
      const { sql: text, params } = dialect.sqlToQuery(statement);
      statements.logQuery(text);
      const result = await pool.query({ name, text, values: params as unknown[], types });
      return result.rows as Record<string, unknown>[];
    },
    async listen(channel: string, onNotification: (payload: string) => void): Promise<Listener> {
      if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
      // Not from the pool: a LISTEN belongs to its connection, which must stay open and idle.
      const client = new pg.Client({
        connectionString: options.dsn,
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
      return { lost, close: () => client.end() };
    },
    close: () => pool.end(),
  };
}
