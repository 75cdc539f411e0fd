// What the store needs from a database, whatever the driver: a drizzle handle over the Postgres
// dialect, a way to run statements as one transaction (over HTTP: one batch, one round trip), a
// statement counter (the per-request budget is tested and benchmarked with it), and close().
import type { Logger as DrizzleLogger, SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { PoolerMode } from '../../config/schema.js';
import { StoreUnavailableError } from '../errors.js';
import { databaseProblem } from './problems.js';

export type DriverName = 'pg' | 'neon-http' | 'pglite';
export type { PoolerMode };

/** How the store's statements reach the server. */
export interface Connection {
  /** Through a pooler: no statement may rely on its connection's state (named statements, LISTEN). */
  readonly pooled: boolean;
  /** How that was decided, for the start-up log. */
  readonly why: string;
}

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
   * payload to `onNotification` (the channel's wake-up, src/store/channel/database.ts).
   */
  listen?(channel: string, onNotification: (payload: string) => void): Promise<Listener>;
  /** pg only: finds out (once) whether the connection is pooled; the store asks before its first statement. */
  connection?(): Promise<Connection>;
  /** pg with a direct URL: a database of its own over it (for migrations); the caller closes it. */
  openDirect?(): Database;
  close(): Promise<void>;
}

/** A LISTENing connection. */
export interface Listener {
  /** Resolves with the reason when the connection is lost (it does not come back by itself). */
  readonly lost: Promise<Error>;
  /** Opened on the direct URL rather than the (possibly pooled) one of the statements. */
  readonly direct: boolean;
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

/**
 * Turns driver errors that mean "the database cannot serve" (unreachable, too slow, or not set up
 * for the store: see ./problems.ts) into StoreUnavailableError; errors of one statement pass.
 */
export function classifyError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const found = databaseProblem(error);
  if (!found) return error;
  const said = driverMessage(error) || found.problem;
  return new StoreUnavailableError(`database unavailable: ${said}; ${found.remedy}`, { cause: error, ...found });
}

/**
 * The driver's own words, for logs. drizzle's query errors repeat the statement's parameters
 * (session ids, credential digests) in their message: those are skipped for their cause.
 */
function driverMessage(error: unknown): string {
  const seen = new Set<unknown>();
  for (let e: any = error; e && !seen.has(e); e = e.cause) {
    seen.add(e);
    const wrapper = typeof e.query === 'string' && Array.isArray(e.params);
    if (!wrapper && typeof e.message === 'string' && e.message !== '') return e.message;
    if (!wrapper && typeof e.code === 'string') return e.code;
  }
  return '';
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
