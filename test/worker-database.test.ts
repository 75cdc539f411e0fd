// The production edge path end to end: the Worker in workerd, the database store over the
// neon-http driver, queries through the local Neon endpoint into the real Postgres. The Worker
// is stopped and started again between calls; the client carries on in the same session.
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startWrangler, type RunningWorker } from './helpers/wrangler.js';
import { connectClient, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';

let db: TestDatabase;
let endpoint: Awaited<ReturnType<typeof startNeonEndpoint>>;
let worker: RunningWorker | undefined;

const STATE_TOOL = 'test_input_required_result_request_state';
const CONFIRMED = { confirm: { action: 'accept', content: { ok: true } } };

beforeAll(async () => {
  db = await createTestDatabase('baton_worker');
  endpoint = await startNeonEndpoint({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres' });
});

afterAll(async () => {
  await worker?.stop();
  await endpoint?.close();
  await db?.drop();
});

it('keeps a session, what it negotiated, and the requestState key across a Worker restart (neon-http)', async () => {
  // No SESSIONS_STORE: with DATABASE_URL set, the Worker's sessions go to the database.
  const vars = {
    BATON_TOOLSETS: 'conformance',
    DATABASE_URL: endpoint.connectionString(db.name),
    DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
  };
  worker = await startWrangler({ vars });
  const port = worker.port;
  const elicited: string[] = [];
  const { client, transport } = await connectClient(worker.url, {
    capabilities: { elicitation: {} },
    onElicit: (message) => {
      elicited.push(message);
      return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
    },
  });
  expect((await client.callTool({ name: 'test_simple_text', arguments: {} })).isError).toBeFalsy();

  // A 2026-07-28 call's first round; its state is sealed with the key kept in Postgres.
  const first = (await readMessages(await fetch(modernRequest(worker.url, 'tools/call', { name: STATE_TOOL, arguments: {} }))))[0];
  expect(first.result.resultType).toBe('input_required');

  await worker.stop();
  worker = await startWrangler({ vars, port });

  // A new isolate redeems it: the key did not live in the old one.
  const second = await fetch(
    modernRequest(worker.url, 'tools/call', {
      name: STATE_TOOL,
      arguments: {},
      inputResponses: CONFIRMED,
      requestState: first.result.requestState,
    }),
  );
  expect((await readMessages(second))[0].result.content[0].text).toMatch(/^state-ok/);

  const after = await client.callTool({ name: 'test_elicitation', arguments: { message: 'after restart' } });
  expect(after.isError).toBeFalsy();
  expect(JSON.stringify(after.content)).toContain('ada@example.com');
  expect(elicited).toEqual(['after restart']);

  const check = new pg.Client({ connectionString: db.url });
  await check.connect();
  const { rows } = await check.query('select protocol_version from baton.sessions where id = $1', [transport.sessionId]);
  await check.end();
  expect(rows).toHaveLength(1);
  expect(worker.logs.join('')).not.toContain('sessions are kept in memory');
  await client.close();
});
