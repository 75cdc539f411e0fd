// The baseline (a): what people deploy today, built only from the SDK. Stateful Streamable HTTP,
// one McpServer and one transport per session, all in this process's memory. It serves the same
// tool the platform is measured with (`test_simple_text` of the conformance toolset).
//
// With FLOOR_DRIVER (pg | neon-http) and FLOOR_DATABASE_URL (a database with the platform's
// schema) it is the floor of a durable session instead: the same server, plus the one statement
// such a session cannot avoid. `initialize` stores a session row, and every later request of the
// session reads that row back by id with the columns the platform's store opens it with, sent the
// stock way of the driver (node-postgres: a named prepared statement from a pool of 10, as the
// platform's pg driver sends it; neon-http: `neon()`'s tagged query, to FLOOR_HTTP_ENDPOINT).
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const transports = new Map<string, StreamableHTTPServerTransport>();

function newServer(): McpServer {
  const server = new McpServer({ name: 'sdk-reference', version: '1.0.0' });
  server.registerTool('test_simple_text', { description: 'Returns a fixed text block.' }, async () => ({
    content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
  }));
  return server;
}

type Query = (text: string, values: unknown[], name: string) => Promise<unknown[]>;

async function floorQuery(): Promise<Query | undefined> {
  const driver = process.env.FLOOR_DRIVER;
  const url = process.env.FLOOR_DATABASE_URL ?? '';
  if (!driver) return undefined;
  if (driver === 'pg') {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    return async (text, values, name) => (await pool.query({ name, text, values })).rows;
  }
  if (driver === 'neon-http') {
    const { neon, neonConfig } = await import('@neondatabase/serverless');
    if (process.env.FLOOR_HTTP_ENDPOINT) neonConfig.fetchEndpoint = process.env.FLOOR_HTTP_ENDPOINT;
    const sql = neon(url);
    return (text, values) => sql.query(text, values) as Promise<unknown[]>;
  }
  throw new Error(`FLOOR_DRIVER: pg or neon-http, not ${driver}`);
}
const query = await floorQuery();

const COLUMNS = 'id, credential_hash, created_at, last_active_at, expires_at, protocol_version, client_capabilities, client_info, state';

/** The floor's statements: the session stored at initialize, read back on every later request. */
async function stored(id: string, body: { params?: { protocolVersion?: string; capabilities?: unknown; clientInfo?: unknown } }) {
  await query!(
    `insert into baton.sessions (id, credential_hash, expires_at, protocol_version, client_capabilities, client_info, state)
     values ($1, '', now() + interval '1 hour', $2, $3::jsonb, $4::jsonb, '{}'::jsonb)`,
    [
      id,
      body.params?.protocolVersion ?? '',
      JSON.stringify(body.params?.capabilities ?? {}),
      JSON.stringify(body.params?.clientInfo ?? {}),
    ],
    'floor_create',
  );
}
async function opened(id: string): Promise<boolean> {
  const rows = await query!(
    `select ${COLUMNS}, (credential_hash = '' or credential_hash = $2) as allowed,
            last_active_at < now() - interval '1 second' as stale, null::timestamptz as touched_at,
            (extract(epoch from now()) * 1000000)::int8 as opened_at
     from baton.sessions where id = $1 and expires_at > now() and last_active_at > now() - interval '1 hour'`,
    [id, ''],
    'floor_open',
  );
  return rows.length === 1;
}

const http = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  const id = req.headers['mcp-session-id'];
  let transport = typeof id === 'string' ? transports.get(id) : undefined;
  if (transport && query && !(await opened(id as string))) {
    res.writeHead(404).end();
    return;
  }
  if (!transport) {
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      res.writeHead(typeof id === 'string' ? 404 : 400).end();
      return;
    }
    const created = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: async (sessionId) => {
        if (query) await stored(sessionId, body);
        transports.set(sessionId, created);
      },
    });
    created.onclose = () => created.sessionId && transports.delete(created.sessionId);
    await newServer().connect(created);
    transport = created;
  }
  await transport.handleRequest(req, res, body);
});

// PORT=0: any free port, named in the "listening" line.
http.listen(Number(process.env.PORT ?? 8090), '127.0.0.1', () => {
  const address = http.address();
  console.log(JSON.stringify({ msg: 'listening', port: typeof address === 'object' && address ? address.port : 0 }));
});
process.on('SIGTERM', () => process.exit(0));
