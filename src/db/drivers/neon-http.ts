// Neon's HTTP query endpoint through @neondatabase/serverless: Workers and Vercel. Every statement
// is one HTTPS round trip; a transaction is one batch request.
import { neon, neonConfig } from '@neondatabase/serverless';
import { drizzle } from 'drizzle-orm/neon-http';
import type { SQL } from 'drizzle-orm';
import { executeRows, StatementCounter, type Database, type Drizzle } from '../database.js';

export interface NeonHttpOptions {
  dsn: string;
  statementTimeoutMs: number;
  /** Send queries here instead of Neon (the local endpoint in dev and tests). */
  httpEndpoint?: string;
}

export function openNeonHttp(options: NeonHttpOptions): Database {
  // These settings are global to the driver; one platform runs per isolate, so that is fine.
  if (options.httpEndpoint) neonConfig.fetchEndpoint = options.httpEndpoint;
  const timeout = options.statementTimeoutMs;
  // Over HTTP the cost that matters is round trips, so they are what is counted here (a batch
  // transaction is one).
  const statements = new StatementCounter();
  neonConfig.fetchFunction = (input: RequestInfo | URL, init?: RequestInit) => {
    statements.count++;
    return fetch(input, { ...init, signal: AbortSignal.timeout(timeout) });
  };
  const client = neon(options.dsn);
  const db = drizzle({ client });
  return {
    driver: 'neon-http',
    db: db as unknown as Drizzle,
    statements,
    async transaction(list: SQL[]) {
      if (list.length === 0) return;
      const [first, ...rest] = list.map((statement) => db.execute(statement));
      await db.batch([first!, ...rest]);
    },
    query: (statement: SQL) => executeRows(db as unknown as Drizzle, statement),
    async close() {},
  };
}
