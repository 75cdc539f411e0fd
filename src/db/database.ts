// What the store needs from a database, whatever the driver: a drizzle handle over the Postgres
// dialect, a way to run statements as one transaction (over HTTP: one batch, one round trip), a
// statement counter (the per-request budget is tested and benchmarked with it), and close().
import type { Logger as DrizzleLogger, SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { StoreUnavailableError } from '../http/errors.js';

export type DriverName = 'pg' | 'neon-http' | 'pglite';

export type Drizzle = PgDatabase<PgQueryResultHKT, Record<string, never>>;

export interface Database {
  readonly driver: DriverName;
  readonly db: Drizzle;
  /** Runs the statements in one transaction; all or nothing. */
  transaction(statements: SQL[]): Promise<void>;
  /**
   * Runs one statement and returns its rows. `name` marks a statement the request path runs
   * over and over: drivers that can (pg) keep it prepared per connection, so Postgres parses
   * and plans it once instead of on every request.
   */
  query(statement: SQL, name?: string): Promise<Record<string, unknown>[]>;
  /** Statements sent since start; for neon-http, HTTP round trips (a batch is one). */
  readonly statements: StatementCounter;
  /**
   * pg only: a connection of its own that LISTENs on `channel` and hands each notification's
   * payload to `onNotification` (the channel's wake-up, src/channel/database.ts).
   */
  listen?(channel: string, onNotification: (payload: string) => void): Promise<Listener>;
  close(): Promise<void>;
}

/** A LISTENing connection. */
export interface Listener {
  /** Resolves with the reason when the connection is lost (it does not come back by itself). */
  readonly lost: Promise<Error>;
  close(): Promise<void>;
}

export class StatementCounter implements DrizzleLogger {
  count = 0;
  readonly recent: string[] = [];
  logQuery(query: string): void {
    this.count++;
    this.recent.push(query);
    if (this.recent.length > 50) this.recent.shift();
  }
}

/** Rows of a raw `db.execute`, whatever shape the driver returns them in. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

// SQLSTATE classes that mean "the database is not there right now" rather than "this statement
// is wrong": connection exceptions, operator intervention, insufficient resources, cancellation.
const UNAVAILABLE_STATES = /^(08|57|53)|^(40001|40P01)$/;
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** Turns driver errors that mean "unreachable or too slow" into StoreUnavailableError. */
export function classifyError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const seen = new Set<unknown>();
  for (let e: any = error; e && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = typeof e.code === 'string' ? e.code : '';
    // drizzle's query errors repeat the statement's parameters (session ids, credential digests)
    // in their message: never match on it or pass it on; their cause says what went wrong.
    const wrapper = typeof e.query === 'string' && Array.isArray(e.params);
    const message = typeof e.message === 'string' && !wrapper ? e.message : '';
    if (UNAVAILABLE_STATES.test(code) || UNAVAILABLE_NODE_CODES.has(code) || e.name === 'TimeoutError' || e.name === 'AbortError') {
      return new StoreUnavailableError(`database unavailable: ${message || code}`, { cause: error });
    }
    if (
      /timeout|terminat|Connection terminated|fetch failed|connect|socket hang up|Client has encountered a connection error/i.test(
        message,
      ) &&
      !code.match(/^[0-9A-Z]{5}$/)
    ) {
      return new StoreUnavailableError(`database unavailable: ${message}`, { cause: error });
    }
  }
  return error;
}

/** For drivers with interactive transactions (pg, pglite): the statements one after another. */
export async function sequentialTransaction(db: Drizzle, list: SQL[]): Promise<void> {
  await db.transaction(async (tx) => {
    for (const statement of list) await tx.execute(statement);
  });
}

/** Rows of one statement through drizzle, for drivers with nothing better to offer. */
export async function executeRows(db: Drizzle, statement: SQL): Promise<Record<string, unknown>[]> {
  return rowsOf<Record<string, unknown>>(await db.execute(statement));
}
