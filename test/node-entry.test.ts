// The Node entry as an operator meets it (src/runtime/node.ts, started as `npm start` starts it):
// the port it listens on, the toolsets it says it serves, and what it says when something outside
// its configuration is wrong: a session database that is missing, refuses the role or cannot be
// reached (logs, /readyz and the client's JSON-RPC error each say what and what to do), a busy
// port, a bad LOG_LEVEL, and problems found while building that came from a variable.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL } from './helpers/db.js';
import { freePort, serverExit, startServer, type RunningServer } from './helpers/server.js';
import { INIT_BODY, postJson } from './helpers/mcp.js';
import { waitFor } from './helpers/wait.js';

/** The JSON log lines a server printed with this message. */
function logLines(server: RunningServer, msg: string): Record<string, unknown>[] {
  return server.logs
    .join('')
    .split('\n')
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Resolves once the server has logged a line with this message. */
function logged(server: RunningServer, msg: string): Promise<Record<string, unknown>> {
  return waitFor(() => logLines(server, msg)[0], { what: `the log line "${msg}"`, intervalMs: 20, detail: () => server.logs.join('') });
}

function base(server: RunningServer): string {
  return `http://127.0.0.1:${server.port}`;
}

describe('listening', () => {
  it('PORT=0 binds a port the system picks and names it in the "listening" line, with the toolsets enabled', async () => {
    const server = await startServer({ PORT: '0', BATON_TOOLSETS: '' });
    try {
      expect(server.port).toBeGreaterThan(0);
      // No toolset named: the default set is what the line reports, not the empty setting.
      expect(logLines(server, 'listening')[0]).toMatchObject({ port: server.port, toolsets: ['data'] });
      expect((await fetch(`${base(server)}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it('a busy port: one line that says so and what to do, exit 1, no stack', async () => {
    const first = await startServer({});
    try {
      const second = await serverExit({ PORT: String(first.port) });
      expect(second.code).toBe(1);
      const lines = `${second.stdout}${second.stderr}`
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.includes('"authentication"'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: 'error',
        msg: `cannot listen on 127.0.0.1:${first.port}: the port is in use by another process; stop that process, or set PORT (server.port) to a free port`,
        code: 'EADDRINUSE',
      });
    } finally {
      await first.stop();
    }
  });
});

describe('settings refused like every other bad setting (exit 2, the variable named)', () => {
  it('LOG_LEVEL=verbose', async () => {
    const { code, stderr } = await serverExit({ LOG_LEVEL: 'verbose' });
    expect(code).toBe(2);
    expect(stderr).toContain('LOG_LEVEL (environment): expected one of "debug", "info", "warn", "error", got "verbose"');
  });

  it('BATON_TOOLSETS with an unknown toolset', async () => {
    const { code, stderr } = await serverExit({ BATON_TOOLSETS: 'conformance,nonsense' });
    expect(code).toBe(2);
    expect(stderr).toContain('BATON_TOOLSETS (environment): unknown toolset "nonsense" (available: conformance, diagnostics, data)');
  });

  it('a public key in auth.jwt.public_keys that is none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-jwt-config-'));
    try {
      const file = join(dir, 'baton.yaml');
      writeFileSync(file, 'auth:\n  jwt:\n    public_keys:\n      - "not a key"\n');
      const { code, stderr } = await serverExit({ BATON_CONFIG: file });
      expect(code).toBe(2);
      expect(stderr).toContain('auth.jwt.public_keys[0]: expected a PEM public key or a JWK as JSON');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('BATON_AUTH_REQUIRED=true with no way to check credentials', async () => {
    const { code, stderr } = await serverExit({ BATON_AUTH_REQUIRED: 'true' });
    expect(code).toBe(2);
    expect(stderr).toContain('BATON_AUTH_REQUIRED (environment): true needs a way to check credentials');
  });
});

describe('a session database that cannot serve', () => {
  const servers: RunningServer[] = [];
  const database = (user: string, name: string, port?: number) => {
    const url = new URL(ADMIN_URL);
    url.username = user;
    url.password = 'hunter2-secret';
    url.pathname = `/${name}`;
    if (port !== undefined) url.port = String(port);
    return url.toString();
  };
  let missingDb: RunningServer;
  let missingRole: RunningServer;
  let unreachable: RunningServer;
  let refusedPort: number;

  beforeAll(async () => {
    refusedPort = await freePort();
    const start = async (url: string) => {
      const server = await startServer({ SESSIONS_STORE: 'database', DATABASE_URL: url, BATON_TOOLSETS: 'conformance' });
      servers.push(server);
      return server;
    };
    [missingDb, missingRole, unreachable] = await Promise.all([
      start(database(new URL(ADMIN_URL).username, 'baton_no_such_database')),
      start(database('baton_no_such_role', 'postgres')),
      start(database('postgres', 'postgres', refusedPort)),
    ]);
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  /** What the log, /readyz and an initialize say, once the server has tried the database. */
  async function said(server: RunningServer) {
    const line = await logged(server, 'session store not ready, retrying');
    const ready = await fetch(`${base(server)}/readyz`);
    const initialize = await postJson(server.url, INIT_BODY);
    return {
      line,
      ready: { status: ready.status, body: (await ready.json()) as { status: string; reason?: string } },
      initialize: { status: initialize.status, retryAfter: initialize.headers.get('retry-after'), body: await initialize.json() },
    };
  }

  it('a missing database: its name, the cause and what to do; the password never', async () => {
    const { line, ready, initialize } = await said(missingDb);
    expect(line.error).toBe(
      'database unavailable: database "baton_no_such_database" does not exist; create it (createdb baton_no_such_database), or set DATABASE_URL (database.dsn) to a database that exists',
    );
    expect(line.database).toBe(database(new URL(ADMIN_URL).username, 'baton_no_such_database').replace('hunter2-secret', '***'));
    const told =
      'Session store unavailable: the session database "baton_no_such_database" does not exist. The server\'s operator must act: create it (createdb baton_no_such_database), or set DATABASE_URL (database.dsn) to a database that exists';
    expect(ready).toEqual({ status: 503, body: { status: 'starting', reason: told } });
    expect(initialize).toMatchObject({ status: 503, retryAfter: '1', body: { jsonrpc: '2.0', error: { code: -32000, message: told } } });
    expect(missingDb.logs.join('')).not.toContain('hunter2-secret');
    expect(missingDb.logs.join('')).not.toContain('Failed query');
  });

  it('a missing role', async () => {
    const { line, ready, initialize } = await said(missingRole);
    expect(line.error).toBe(
      'database unavailable: role "baton_no_such_role" does not exist; create it, or set the user in DATABASE_URL (database.dsn) to a role that exists',
    );
    const told =
      "Session store unavailable: the database role (user) in the configured URL does not exist. The server's operator must act: create it, or set the user in DATABASE_URL (database.dsn) to a role that exists";
    expect(ready.body).toEqual({ status: 'starting', reason: told });
    expect(initialize.body.error.message).toBe(told);
    // The role's name (a user name) is in the log only.
    expect(JSON.stringify(ready.body)).not.toContain('baton_no_such_role');
  });

  it('an unreachable database: the address in the log only; clients are told to retry', async () => {
    const { line, ready, initialize } = await said(unreachable);
    expect(line.error).toMatch(
      new RegExp(
        `^database unavailable: connect ECONNREFUSED [^;]*:${refusedPort}; if it lasts, check that Postgres is running and reachable at the host and port in DATABASE_URL \\(database.dsn\\)$`,
      ),
    );
    expect(line.database).toBe(database('postgres', 'postgres', refusedPort).replace('hunter2-secret', '***'));
    const told = 'Session store unavailable: the database cannot be reached (connection refused); retry shortly';
    expect(ready).toEqual({ status: 503, body: { status: 'starting', reason: told } });
    expect(initialize).toMatchObject({ status: 503, retryAfter: '1', body: { error: { message: told } } });
  });
});
