// A database whose statements are observed (src/telemetry/statements.ts): a span under the
// request that runs them, counted and timed. The runtimes' openers wrap the driver they open.
import type { SQL } from 'drizzle-orm';
import { observeStatement } from '../../telemetry/statements.js';
import { Bound, compile, type Database, type Statement } from './database.js';

export function withStatementSpans(database: Database): Database {
  const { driver } = database;
  return {
    ...database,
    query: (statement: Statement, name = statement instanceof Bound ? statement.name : undefined) =>
      observeStatement({ driver, name, text: () => compile(statement).text }, () => database.query(statement, name)),
    transaction: (statements: SQL[]) =>
      observeStatement({ driver, name: 'transaction', text: () => statements.map((s) => compile(s).text).join(';\n') }, () =>
        database.transaction(statements),
      ),
  };
}
