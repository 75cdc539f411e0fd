// Neon's HTTP query endpoint through @neondatabase/serverless: Workers and Vercel. Every statement
// is one HTTPS round trip; a transaction is one batch request.
import { neon, neonConfig } from '@neondatabase/serverless';
import { drizzle } from 'drizzle-orm/neon-http';
import type { SQL } from 'drizzle-orm';
import { configProblem } from '../../../config/errors.js';
import { PgDialect } from 'drizzle-orm/pg-core';
import { StatementCounter, type Database, type Drizzle } from '../database.js';

const dialect = new PgDialect();

export interface NeonHttpOptions {
  dsn: string;
  statementTimeoutMs: number;
  /** Send queries here instead of Neon (the local endpoint in dev and tests). */
  httpEndpoint?: string;
}

/**
 * Sends the driver's queries to `endpoint` instead of Neon's (the local endpoint in dev and tests).
 * The driver takes its endpoint only from a process-wide setting (`neonConfig.fetchEndpoint`;
 * `neon()` has no option for it), so a process has one: a different second one is refused rather
 * than silently taking over the queries of every client opened before it. Nothing else of the
 * driver's process-wide configuration is touched; each client's options are its own.
 */
export function useFetchEndpoint(endpoint: string | undefined, key: string): void {
  if (!endpoint) return;
  const current = neonConfig.fetchEndpoint;
  if (typeof current === 'string' && current !== endpoint) {
    throw new Error(
      `${key}: the neon-http driver already sends this process's queries to ${current}; it has one endpoint per process, so "${endpoint}" cannot be used as well`,
    );
  }
  neonConfig.fetchEndpoint = endpoint;
}

/**
 * Refuses a URL the driver cannot serve, naming the setting it came from (`key`). Without an
 * endpoint set for the process, the driver sends a URL's queries to one it derives from the host
 * the way Neon names them (`https://api.<host without its first label>/sql`). From an IP address
 * or a name without a dot (localhost, a container's name) that is no endpoint at all: the URL is
 * a plain Postgres, and every query would fail with "Invalid URL" or a refused connection.
 */
export function checkNeonUrl(dsn: string, key: string): void {
  const endpoint = neonConfig.fetchEndpoint;
  if (typeof endpoint === 'string') return;
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    // Not repeated: it may hold a password.
    throw configProblem(`${key}: not a URL the neon-http driver can read (expected postgres://user:password@host/database)`);
  }
  const host = url.hostname;
  if (!host.startsWith('[') && !IPV4.test(host) && host.includes('.')) return;
  throw configProblem(
    `${key}: the neon-http driver sends queries over HTTPS to an endpoint it derives from the URL's host, which for ${host} ` +
      `is ${endpoint(host, url.port || 5432)}: no Neon endpoint, so this looks like a plain Postgres URL. Use the connection ` +
      `URL Neon gives you, or set database.http_endpoint (DATABASE_HTTP_ENDPOINT) to an endpoint that speaks Neon's HTTP ` +
      'protocol for this Postgres (npm run dev starts one); on the Node server the pg driver reaches any Postgres',
  );
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

export function openNeonHttp(options: NeonHttpOptions): Database {
  useFetchEndpoint(options.httpEndpoint, 'database.http_endpoint');
  checkNeonUrl(options.dsn, 'database.dsn');
  const timeout = options.statementTimeoutMs;
  // Over HTTP the cost that matters is round trips, so they are what is counted here (a batch
  // transaction is one).
  const statements = new StatementCounter();
  // The driver spreads a client's fetch options into each request it makes, so this getter runs
  // once per round trip: it counts it and gives it a timeout of its own. Only this client's
  // requests get them; the datasource's neon-http client has its own timeout.
  const fetchOptions = {
    get signal() {
      statements.count++;
      return AbortSignal.timeout(timeout);
    },
  };
  const client = neon(options.dsn, { fetchOptions });
  const db = drizzle({ client });
  // The store's own statements skip drizzle's query layer (its tracing, placeholder filling and
  // result wrapping, per request) and the transferable AbortSignal.timeout: the text comes from
  // the dialect, the call goes straight to a client of their own, and the timeout's timer ends
  // with the statement. Rows come back the same: drizzle() above set the driver's type parsers.
  const direct = neon(options.dsn);
  const query = async (statement: SQL): Promise<Record<string, unknown>[]> => {
    const { sql: text, params } = dialect.sqlToQuery(statement);
    statements.logQuery(text);
    const controller = new AbortController();
    // The reason AbortSignal.timeout would give, so that the error reads (and is classified) the same.
    const timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), timeout);
    try {
      return (await direct.query(text, params, { fetchOptions: { signal: controller.signal } })) as Record<string, unknown>[];
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    driver: 'neon-http',
    db: db as unknown as Drizzle,
    statements,
    async transaction(list: SQL[]) {
      if (list.length === 0) return;
      const [first, ...rest] = list.map((statement) => db.execute(statement));
      await db.batch([first!, ...rest]);
    },
    query,
    async close() {},
  };
}
