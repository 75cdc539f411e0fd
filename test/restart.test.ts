// Sessions outlive processes: the real Node server is killed and replaced under a connected SDK
// client, and two instances behind a round-robin proxy serve one session together.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { startRoundRobinProxy } from './helpers/proxy.js';
import { connectClient, postJson } from './helpers/mcp.js';
import { MIGRATIONS } from '../src/store/db/migrations.generated.js';

let db: TestDatabase;
const running: RunningServer[] = [];

beforeAll(async () => {
  db = await createTestDatabase('baton_restart');
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop('SIGKILL')));
  await db?.drop();
});

async function start(env: Record<string, string>, port?: number): Promise<RunningServer> {
  const server = await startServer({ BATON_TOOLSETS: 'conformance', ...env }, port ? { port } : {});
  running.push(server);
  return server;
}

const elicitAnswer = () => ({ action: 'accept' as const, content: { username: 'grace', email: 'grace@example.com' } });

describe('store database, driver pg', () => {
  it('a session survives SIGKILL of the server; capabilities negotiated before still apply', async () => {
    const env = { SESSIONS_STORE: 'database', DATABASE_URL: db.url };
    const first = await start(env);
    const port = first.port;
    const elicited: string[] = [];
    const { client, transport } = await connectClient(first.url, {
      capabilities: { elicitation: {} },
      onElicit: (message) => {
        elicited.push(message);
        return elicitAnswer();
      },
    });
    const sessionId = transport.sessionId;
    expect((await client.callTool({ name: 'test_simple_text', arguments: {} })).isError).toBeFalsy();

    await first.stop('SIGKILL');
    const second = await start(env, port);
    expect(second.url).toBe(first.url);

    // The same client object carries on: same session id, and the elicitation capability it
    // declared to the dead process is honored by the new one.
    const after = await client.callTool({ name: 'test_elicitation', arguments: { message: 'still there?' } });
    expect(after.isError).toBeFalsy();
    expect(JSON.stringify(after.content)).toContain('grace@example.com');
    expect(elicited).toEqual(['still there?']);
    expect(transport.sessionId).toBe(sessionId);
    await client.close();
    await second.stop();
  });

  it('two instances behind a round-robin proxy share sessions; DELETE on one is 404 on the other', async () => {
    const env = { SESSIONS_STORE: 'database', DATABASE_URL: db.url };
    const [a, b] = await Promise.all([start(env), start(env)]);
    const proxy = await startRoundRobinProxy([`http://127.0.0.1:${a.port}`, `http://127.0.0.1:${b.port}`]);
    try {
      const { client, transport } = await connectClient(`${proxy.url}/mcp`, {
        capabilities: { elicitation: {} },
        onElicit: elicitAnswer,
      });
      for (let i = 0; i < 6; i++) {
        const result = await client.callTool({ name: 'test_simple_text', arguments: {} });
        expect(result.isError).toBeFalsy();
      }
      expect(new Set(proxy.served).size).toBe(2);

      // Concurrent requests of one session on both instances, each adding a state key.
      const uris = Array.from({ length: 16 }, (_, i) => `test://template/${i}/data`);
      await Promise.all(uris.map((uri) => client.subscribeResource({ uri })));
      const rows = await new pg.Client({ connectionString: db.url });
      await rows.connect();
      const { rows: found } = await rows.query('select state from baton.sessions where id = $1', [transport.sessionId]);
      await rows.end();
      for (const uri of uris) expect(found[0].state[`mcp.sub:${uri}`]).toBe(true);

      const sessionId = transport.sessionId!;
      const deleted = await fetch(`http://127.0.0.1:${a.port}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sessionId } });
      expect(deleted.status).toBe(200);
      const onOther = await postJson(
        `http://127.0.0.1:${b.port}/mcp`,
        { jsonrpc: '2.0', id: 5, method: 'tools/list', params: {} },
        { 'mcp-session-id': sessionId },
      );
      expect(onOther.status).toBe(404);
      await client.close();
    } finally {
      await proxy.close();
      await a.stop();
      await b.stop();
    }
  });

  it('instances starting at once against an empty database migrate it exactly once', async () => {
    const empty = await createTestDatabase('baton_migrate');
    try {
      const env = { SESSIONS_STORE: 'database', DATABASE_URL: empty.url };
      const servers = await Promise.all([start(env), start(env), start(env), start(env)]);
      // The migration runs on first use: send every instance its first request at the same moment.
      const responses = await Promise.all(
        servers.map((s) =>
          postJson(s.url, {
            jsonrpc: '2.0',
            id: 1,
            method: 'initialize',
            params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'm', version: '1' } },
          }),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      const check = new pg.Client({ connectionString: empty.url });
      await check.connect();
      const journal = await check.query('select hash from drizzle.__drizzle_migrations');
      const count = await check.query('select count(*)::int as n from baton.sessions');
      await check.end();
      // Each bundled migration exactly once.
      expect(journal.rows.map((row) => row.hash).sort()).toEqual(MIGRATIONS.map((m) => m.hash).sort());
      expect(count.rows[0].n).toBe(4);
      await Promise.all(servers.map((s) => s.stop()));
    } finally {
      await empty.drop();
    }
  });
});

describe('store database, no database configured (pglite)', () => {
  it('a session survives a restart of the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-pglite-'));
    try {
      const env = { SESSIONS_STORE: 'database', BATON_CONFIG_YAML: `database:\n  pglite_dir: ${join(dir, 'data')}\n` };
      const first = await start(env);
      const port = first.port;
      const { client, transport } = await connectClient(first.url, { capabilities: {} });
      expect((await client.callTool({ name: 'test_simple_text', arguments: {} })).isError).toBeFalsy();
      expect(await first.stop('SIGTERM')).toBe(0);

      const second = await start(env, port);
      const again = await client.callTool({ name: 'test_simple_text', arguments: {} });
      expect(again.isError).toBeFalsy();
      expect(transport.sessionId).toBeTruthy();
      await client.close();
      expect(await second.stop('SIGTERM')).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
