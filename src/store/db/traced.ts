// A database whose statements are observed (src/telemetry/statements.ts): a span under the
// request that runs them, counted and timed. The runtimes' openers wrap the driver they open.
import { PgDialect } from 'drizzle-orm/pg-core';
import type { SQL } from 'drizzle-orm';
import { observeStatement } from '../../telemetry/statements.js';
import type { Database } from './database.js';

const dialect = new PgDialect();

export function withStatementSpans(database: Database): Database {
  const { driver } = database;
  return {
    ...database,
    query: (statement: SQL, name?: string) =>
      observeStatement({ driver, name, text: () => dialect.sqlToQuery(statement).sql }, () => database.query(statement, name)),
    transaction: (statements: SQL[]) =>
      observeStatement({ driver, name: 'transaction', text: () => statements.map((s) => dialect.sqlToQuery(s).sql).join(';\n') }, () =>
        database.transaction(statements),
      ),
  };
}
