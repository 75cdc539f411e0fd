// Any instance, for real: two Node processes on one Postgres (pg, LISTEN/NOTIFY; and through
// PgBouncer in transaction mode, listening on a direct URL, or polling with the pooled URL alone), and two Workers
// in workerd over the local Neon HTTP endpoint on one database (neon-http, polling), each pair
// behind a round-robin proxy. The SDK's own client (2025-11-25 session) calls the elicitation and
// sampling fixtures 20 times each; its replies are separate POSTs that the proxy sends to
// whichever instance is next, so most replies reach the instance that is not running the tool:
// each of those must have been forwarded, and no other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { startWrangler, type RunningWorker } from './helpers/wrangler.js';
import { startRoundRobinProxy, type Proxy as RoundRobin, type ProxiedRequest } from './helpers/proxy.js';
import { answeringClient } from './helpers/mcp.js';
import { startPgBouncer, type PgBouncer } from './helpers/pgbouncer.js';
import { waitFor } from './helpers/wait.js';

/** 20 elicitation and 20 sampling calls through `url`; returns how many succeeded. */
async function elicitAndSample(url: string): Promise<{ elicited: number; sampled: number }> {
  const client = answeringClient('any-instance');
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  let elicited = 0;
  let sampled = 0;
  try {
    for (let i = 0; i < 20; i++) {
      const e = await client.callTool({ name: 'test_elicitation', arguments: { message: `question ${i}` } });
      if (!e.isError && (e.content as { text: string }[])[0]!.text.includes(`user for question ${i}`)) elicited++;
      const s = await client.callTool({ name: 'test_sampling', arguments: { prompt: `prompt ${i}` } });
      if (!s.isError && (s.content as { text: string }[])[0]!.text === `LLM response: sampled: prompt ${i}`) sampled++;
    }
  } finally {
    await client.close();
  }
  return { elicited, sampled };
}

const count = (logs: string[], msg: string) => logs.join('').split(`"msg":"${msg}"`).length - 1;

/**
 * Replies the proxy sent to another instance than the call they answer (the client calls one
 * tool at a time, so a reply answers the last call before it). Which ones those are depends on
 * whether another request of the client (its GET stream) fell between a call and its reply, so
 * the test counts them from what the proxy did rather than expecting a number.
 */
function crossedReplies(requests: ProxiedRequest[]): number {
  let callOn: number | undefined;
  let crossed = 0;
  for (const request of requests) {
    if (request.method !== 'POST') continue;
    const message = JSON.parse(request.body);
    if (message.method === 'tools/call') callOn = request.backend;
    else if (('result' in message || 'error' in message) && callOn !== undefined && request.backend !== callOn) crossed++;
  }
  return crossed;
}

/**
 * How many replies the instances logged as forwarded, once `expected` have been (their output
 * comes through pipes, so it may arrive after the answers).
 */
async function forwardedReplies(logs: () => string[][], expected: number): Promise<number> {
  const total = () => logs().reduce((n, l) => n + count(l, 'reply forwarded'), 0);
  await waitFor(() => total() >= expected, { what: `${expected} replies logged as forwarded`, detail: () => `${total()} so far` });
  return total();
}

const NODE_SETUPS = [
  { name: 'on pg', pooled: false, direct: false, delivery: 'notify' },
  { name: 'on pg through PgBouncer (transaction mode), listening on a direct URL', pooled: true, direct: true, delivery: 'notify' },
  { name: 'on pg through PgBouncer (transaction mode) with the pooled URL only', pooled: true, direct: false, delivery: 'poll' },
] as const;

describe.each(NODE_SETUPS)('two Node instances $name behind a round-robin proxy', (setup) => {
  let db: TestDatabase;
  let bouncer: PgBouncer | undefined;
  const servers: RunningServer[] = [];
  let proxy: RoundRobin;

  beforeAll(async () => {
    db = await createTestDatabase('baton_instances');
    bouncer = setup.pooled ? await startPgBouncer() : undefined;
    const env = {
      BATON_TOOLSETS: 'conformance',
      SESSIONS_STORE: 'database',
      DATABASE_URL: bouncer ? bouncer.rewrite(db.url) : db.url,
      ...(setup.direct && { DATABASE_DIRECT_URL: db.url }),
      // Polling at a fifth of the default interval keeps the test short; what is tested is the same.
      ...(setup.delivery === 'poll' && { BATON_CONFIG_YAML: 'channel:\n  poll_interval: 100ms\n' }),
      LOG_LEVEL: 'debug',
    };
    servers.push(await startServer(env));
    servers.push(await startServer(env));
    proxy = await startRoundRobinProxy(servers.map((s) => `http://127.0.0.1:${s.port}`));
  }, 120_000);

  afterAll(async () => {
    await proxy?.close();
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    await bouncer?.close();
    await db?.drop();
  });

  it('20 elicitation and 20 sampling calls from the SDK client all succeed', async () => {
    // How the instances hear each other is what the setup makes it: told so at start, by the time
    // the instance is ready.
    for (const server of servers) {
      await waitFor(() => server.logs.join('').includes('"msg":"ready"'), {
        what: 'the log line "ready"',
        detail: () => server.logs.join(''),
      });
      const polling = server.logs.join('').includes('messages between instances are read from the table');
      expect(polling ? 'poll' : 'notify').toBe(setup.delivery);
    }
    expect(await elicitAndSample(`${proxy.url}/mcp`)).toEqual({ elicited: 20, sampled: 20 });
    // Round robin sends a call and its reply to different instances unless another request of the
    // client falls between them: each reply that crossed was forwarded, and no other.
    const crossed = crossedReplies(proxy.requests);
    expect(crossed).toBeGreaterThan(0);
    expect(await forwardedReplies(() => servers.map((s) => s.logs), crossed)).toBe(crossed);
  }, 180_000);
});

describe('two Workers (workerd) on one database over the local Neon endpoint behind a round-robin proxy', () => {
  let db: TestDatabase;
  let endpoint: Awaited<ReturnType<typeof startNeonEndpoint>>;
  const workers: RunningWorker[] = [];
  let proxy: RoundRobin;

  beforeAll(async () => {
    db = await createTestDatabase('baton_instances_neon');
    endpoint = await startNeonEndpoint({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres' });
    const vars = {
      BATON_TOOLSETS: 'conformance',
      SESSIONS_STORE: 'database',
      DATABASE_URL: endpoint.connectionString(db.name),
      DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
      LOG_LEVEL: 'debug',
    };
    workers.push(await startWrangler({ vars }));
    workers.push(await startWrangler({ vars }));
    proxy = await startRoundRobinProxy(workers.map((w) => w.url.replace(/\/mcp$/, '')));
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
    for (const worker of workers) await worker.stop();
    await endpoint?.close();
    await db?.drop();
  });

  it('20 elicitation and 20 sampling calls from the SDK client all succeed', async () => {
    expect(await elicitAndSample(`${proxy.url}/mcp`)).toEqual({ elicited: 20, sampled: 20 });
    const crossed = crossedReplies(proxy.requests);
    expect(crossed).toBeGreaterThan(0);
    expect(await forwardedReplies(() => workers.map((w) => w.logs), crossed)).toBe(crossed);
  }, 300_000);
});
