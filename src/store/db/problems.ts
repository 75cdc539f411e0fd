// What a failing session database means for whoever must act on it. A driver error says
// `Failed query: select ... params:` or `connect ECONNREFUSED 10.0.0.5:5432`; an operator needs
// "the database "app" does not exist: create it or fix DATABASE_URL", and a client needs to know
// whether waiting helps. Errors are recognised by SQLSTATE and Node's network codes, never by the
// text of a query error (drizzle's repeats the statement's parameters: session ids, digests).

/** A database error, in the words of the people who see it. */
export interface DatabaseProblem {
  /** What is wrong, safe to show clients and /readyz: no address, user name or credential. */
  problem: string;
  /** What the operator should do about it. */
  remedy: string;
  /** Waiting may be enough (the database is restarting, overloaded, the network blinked). */
  passing: boolean;
}

const SETTINGS = 'DATABASE_URL (database.dsn)';
const UNREACHABLE = `if it lasts, check that Postgres is running and reachable at the host and port in ${SETTINGS}`;
const STRUGGLING = 'if it lasts, check the database server (its load, connection limit and logs) and database.statement_timeout';

// Connection exceptions, operator intervention, insufficient resources, serialization failures:
// the database is there but cannot serve right now.
const PASSING_STATES = /^(08|57|53)|^(40001|40P01)$/;
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
  EHOSTUNREACH: 'host unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
};

type ErrorLike = {
  code?: unknown;
  message?: unknown;
  name?: unknown;
  query?: unknown;
  params?: unknown;
  cause?: unknown;
  sourceError?: unknown;
};

/** An error and those beneath it: `cause`, or the neon driver's `sourceError` (what its fetch threw). */
function* chain(error: unknown): Generator<ErrorLike> {
  const seen = new Set<unknown>();
  for (
    let e = error as ErrorLike | undefined;
    e && typeof e === 'object' && !seen.has(e);
    e = (e.cause ?? e.sourceError) as ErrorLike | undefined
  ) {
    seen.add(e);
    yield e;
  }
}

/** A query error's own message repeats its parameters; only the driver's errors beneath it are read. */
function ownMessage(e: ErrorLike): string {
  const wrapper = typeof e.query === 'string' && Array.isArray(e.params);
  return typeof e.message === 'string' && !wrapper ? e.message : '';
}

function quoted(message: string, noun: string): string | undefined {
  return new RegExp(`${noun} "([^"]*)"`).exec(message)?.[1];
}

function bySqlState(code: string, message: string): DatabaseProblem | undefined {
  switch (code) {
    case '3D000': {
      const name = quoted(message, 'database');
      return {
        problem: `the session database ${name === undefined ? '' : `"${name}" `}does not exist`,
        remedy: `create it${name === undefined ? '' : ` (createdb ${name})`}, or set ${SETTINGS} to a database that exists`,
        passing: false,
      };
    }
    case '28000': {
      const role = quoted(message, 'role');
      return role !== undefined && /does not exist/.test(message)
        ? {
            // The role is a user name: clients and /readyz are told there is none, the log which.
            problem: 'the database role (user) in the configured URL does not exist',
            remedy: `create it, or set the user in ${SETTINGS} to a role that exists`,
            passing: false,
          }
        : {
            problem: 'the database refused the login',
            remedy: `check the user in ${SETTINGS} and the server's pg_hba.conf`,
            passing: false,
          };
    }
    case '28P01':
      return { problem: 'the database refused the password', remedy: `check the password in ${SETTINGS}`, passing: false };
    case '42501':
      return {
        problem: 'the database role lacks a privilege the session store needs',
        remedy: 'grant it CREATE on the database (to apply migrations) and use of the "baton" schema, or run "baton migrate" as the owner',
        passing: false,
      };
    // PgBouncer's answer to a setting sent in the startup packet (database.pooler "none" said there
    // was no pooler, so the server-side statement_timeout went with the connection's startup).
    case '08P01':
      if (!/unsupported startup parameter/i.test(message)) break;
      return {
        problem: `a connection pooler refused a setting in the connection's startup (${message})`,
        remedy: 'set database.pooler to "auto" or "transaction" (DATABASE_POOLER), so that nothing is sent in the startup',
        passing: false,
      };
    // A named prepared statement missing, or there already, on the connection that ran it: the
    // pooler gave this client another server connection between two transactions.
    case '26000':
    case '42P05':
      return {
        problem: 'the database connection goes through a pooler in transaction mode, and prepared statements do not survive it',
        remedy: 'set database.pooler to "transaction" (DATABASE_POOLER=transaction), or "auto" to detect it',
        passing: false,
      };
    case '3F000':
    case '42P01':
      return {
        problem: 'the session table does not exist',
        remedy: 'run "baton migrate", or set database.auto_migrate to true',
        passing: false,
      };
  }
  if (PASSING_STATES.test(code)) return { problem: `the database cannot serve right now (${code})`, remedy: STRUGGLING, passing: true };
  return undefined;
}

/**
 * The problem behind a driver error when it is the database's, not the statement's: one that no
 * request can work around (so clients get 503, and no session is lost or changed). Undefined for
 * errors of one statement.
 */
export function databaseProblem(error: unknown): DatabaseProblem | undefined {
  for (const e of chain(error)) {
    // The neon driver's "Error connecting to database: <what fetch threw>": the error beneath says which.
    if (e.sourceError !== undefined && e.cause === undefined) continue;
    const code = typeof e.code === 'string' ? e.code : '';
    const message = ownMessage(e);
    if (/^[0-9A-Z]{5}$/.test(code)) {
      const problem = bySqlState(code, message);
      if (problem) return problem;
      continue;
    }
    if (NETWORK_CODES[code])
      return { problem: `the database cannot be reached (${NETWORK_CODES[code]})`, remedy: UNREACHABLE, passing: true };
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
      return { problem: 'the database did not answer in time', remedy: STRUGGLING, passing: true };
    if (/does not support SSL|SSL connection|certificate/i.test(message))
      return {
        problem: 'the database connection failed on TLS',
        remedy: `match sslmode in ${SETTINGS} to what the server offers`,
        passing: false,
      };
    if (/timeout|terminat|fetch failed|connect|socket hang up|Client has encountered a connection error/i.test(message))
      return { problem: 'the database cannot be reached (connection failed)', remedy: UNREACHABLE, passing: true };
  }
  return undefined;
}

/** A Postgres URL as logs may show it: without its password (and without a query string, which may hold one). */
export function redactDsn(dsn: string): string {
  if (dsn === '') return '';
  try {
    const url = new URL(dsn);
    if (url.password) url.password = '***';
    url.search = '';
    return url.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
