// What one POST can make the instances write for each other: replies and cancels addressed to
// work on another instance are forwarded through the store (a statement each), so a request may
// forward only a few, each of bounded size. Ids are shaped, not signed: without the cap, a batch
// of made-up reply ids (batches are allowed before protocol 2025-06-18) became thousands of writes.
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createLogger } from '../src/log.js';
import { MAX_FORWARDS_PER_REQUEST } from '../src/era-2025/exchange-router.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { MCP_HEADERS } from './helpers/mcp.js';

let db: TestDatabase;
let platform: Platform;
const URL_ = 'http://127.0.0.1/mcp';

beforeAll(async () => {
  db = await createTestDatabase('baton_forwarding');
  const config = parseConfig({ toolsets: ['conformance'], sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }, {});
  platform = await createPlatform(config, { logger: createLogger('error'), openDatabase: openNodeDatabase });
});

afterAll(async () => {
  await platform?.close();
  await db?.drop();
});

const post = (body: unknown, headers: Record<string, string> = {}) =>
  platform.app.fetch(new Request(URL_, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: JSON.stringify(body) }));

it(`forwards at most ${MAX_FORWARDS_PER_REQUEST} replies and cancels of one request to other instances`, async () => {
  const version = '2025-03-26';
  const init = await post({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'forger', version: '1' } },
  });
  const session = init.headers.get('mcp-session-id')!;
  expect(session).toBeTruthy();
  const headers = { 'mcp-session-id': session, 'mcp-protocol-version': version };

  const store = platform.store as DatabaseSessionStore;
  const replies = Array.from({ length: 200 }, (_, i) => ({ jsonrpc: '2.0', id: `AAAAAAAA.${i}`, result: { action: 'cancel' } }));
  const cancels = Array.from({ length: 50 }, (_, i) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: i } }));
  const before = store.database.statements.count;
  const response = await post([...replies, ...cancels], headers);
  expect(response.status).toBe(202);
  // Opening the session, then the forwards the cap allows.
  expect(store.database.statements.count - before).toBe(1 + MAX_FORWARDS_PER_REQUEST);
  const check = new pg.Client({ connectionString: db.url });
  await check.connect();
  const { rows } = await check.query('select count(*)::int as n from baton.messages');
  await check.end();
  expect(rows[0].n).toBe(MAX_FORWARDS_PER_REQUEST);
});
