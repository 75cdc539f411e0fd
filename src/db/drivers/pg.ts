// node-postgres over TCP: the Node server against any Postgres, pooled.
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { SQL } from 'drizzle-orm';
import { errorText, withoutUrlPasswords, type Logger } from '../../log.js';
import { executeRows, sequentialTransaction, StatementCounter, type Database, type Drizzle } from '../database.js';

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
    close: () => pool.end(),
  };
}
