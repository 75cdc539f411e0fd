// A rolling restart under load, the way Kubernetes does it with maxUnavailable 0: two Node
// instances on one Postgres behind a load balancer that routes by readiness (the proxy helper's
// health checks); SDK clients call tools in a loop; each instance in turn gets SIGTERM, drains,
// exits and is replaced by a new process on the same port. No client request may fail and no
// session may be lost. Stopped as Kubernetes does (SIGTERM to the server, PID 1 of its container),
// and as systemd and `tini -g` do (SIGTERM to the process group of `npm start`: the server gets it
// twice, from the manager and from npm). And once with the database behind PgBouncer in transaction
// mode, as most production Postgres is reached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { startRoundRobinProxy, type Proxy as RoundRobinProxy } from './helpers/proxy.js';
import { connectClient } from './helpers/mcp.js';
import { startPgBouncer, type PgBouncer } from './helpers/pgbouncer.js';
import { sleep, waitFor } from './helpers/wait.js';

const CLIENTS = 6;
let db: TestDatabase;
let bouncer: PgBouncer;
const proxies: RoundRobinProxy[] = [];
const running: RunningServer[] = [];

const env = (launch: Launch) => ({
  SESSIONS_STORE: 'database',
  DATABASE_URL: launch.pooled ? bouncer.rewrite(db.url) : db.url,
  BATON_TOOLSETS: 'diagnostics',
  // The delay spans several of the proxy's 100 ms health checks, as it should span a load
  // balancer's deregistration; the grace period covers the longest call.
  BATON_CONFIG_YAML: 'server:\n  shutdown:\n    pre_shutdown_delay: 1s\n    grace_period: 15s\n',
});

interface Launch {
  name: string;
  command?: string[];
  group: boolean;
  pooled?: boolean;
}

const LAUNCHES: Launch[] = [
  { name: 'SIGTERM to the server process (Kubernetes)', group: false },
  { name: 'SIGTERM to the process group of `npm start` (systemd, tini -g)', command: ['npm', 'start'], group: true },
  { name: 'through PgBouncer in transaction mode, SIGTERM to the server process', group: false, pooled: true },
];

async function start(launch: Launch, port?: number): Promise<RunningServer> {
  const server = await startServer(env(launch), { ...(port !== undefined && { port }), command: launch.command, group: launch.group });
  running.push(server);
  return server;
}

beforeAll(async () => {
  db = await createTestDatabase('baton_rolling');
  bouncer = await startPgBouncer();
});

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(running.map((s) => s.stop('SIGKILL')));
  await bouncer?.close();
  await db?.drop();
});

describe.each(LAUNCHES)('$name', (launch) => {
  it('replaces both instances one after the other with zero failed requests and zero lost sessions', async () => {
    const instances = await Promise.all([start(launch), start(launch)]);
    const ports = instances.map((instance) => instance.port);
    const backends = ports.map((port) => `http://127.0.0.1:${port}`);
    const lb = await startRoundRobinProxy(backends, { readiness: { intervalMs: 100 } });
    proxies.push(lb);
    const waitUntilReady = (backend: string) => waitFor(() => lb.ready.includes(backend), { what: `the proxy to find ${backend} ready` });
    await Promise.all(backends.map(waitUntilReady));

    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connectClient(`${lb.url}/mcp`)));
    const sessionIds = clients.map(({ transport }) => transport.sessionId);
    const failures: string[] = [];
    let calls = 0;
    let stop = false;

    // Each client: slow and quick calls, and now and then a request that writes session state.
    const load = clients.map(async ({ client }, index) => {
      for (let round = 0; !stop; round++) {
        try {
          if (round % 5 === 4) {
            await client.setLoggingLevel(round % 10 === 4 ? 'info' : 'warning');
          } else {
            const ms = round % 3 === 0 ? 400 : Math.floor(Math.random() * 50);
            const result = await client.callTool({ name: 'sleep', arguments: { ms } });
            if (result.isError || JSON.stringify(result.content) !== JSON.stringify([{ type: 'text', text: `slept ${ms} ms` }])) {
              failures.push(`client ${index}, round ${round}: unexpected result ${JSON.stringify(result)}`);
            }
          }
        } catch (error) {
          failures.push(`client ${index}, round ${round}: ${error instanceof Error ? error.message : String(error)}`);
        }
        calls++;
      }
    });

    await sleep(1_500);
    const replaced: { port: number; exitCode: number | null; drainMs: number; inFlightAtSignal: number }[] = [];
    for (const [slot, port] of ports.entries()) {
      const started = Date.now();
      const old = instances[slot]!;
      const exitCode = await old.stop('SIGTERM');
      const line = old.logs
        .join('')
        .split('\n')
        .find((l) => l.includes('"msg":"shutting down"'));
      replaced.push({ port, exitCode, drainMs: Date.now() - started, inFlightAtSignal: line ? JSON.parse(line).inFlight : -1 });
      instances[slot] = await start(launch, port);
      await waitUntilReady(backends[slot]!);
      await sleep(1_500); // both instances under load again before the next one goes
    }
    stop = true;
    await Promise.all(load);

    // Every session still answers, with the id it had at the start; its rows are all there.
    for (const { client } of clients) expect((await client.callTool({ name: 'sleep', arguments: { ms: 1 } })).isError).toBeFalsy();
    expect(clients.map(({ transport }) => transport.sessionId)).toEqual(sessionIds);
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    const stored = await check.query('select count(*)::int as n from baton.sessions where id = any($1)', [sessionIds]);
    await check.end();

    const perBackend = backends.map((_, index) => lb.served.filter((i) => i === index).length);
    console.log(
      `rolling restart (${launch.name}): ${calls} client calls by ${CLIENTS} SDK clients (${lb.served.length} HTTP requests through the proxy, per port ${perBackend.join(' / ')}); ` +
        `replaced ${replaced.map((r) => `:${r.port} (exit ${r.exitCode}, ${r.inFlightAtSignal} in flight at SIGTERM, gone after ${r.drainMs} ms)`).join(', ')}; failures ${failures.length}`,
    );
    expect(failures).toEqual([]);
    expect(replaced.map((r) => r.exitCode)).toEqual([0, 0]);
    expect(stored.rows[0].n).toBe(CLIENTS);
    expect(calls).toBeGreaterThan(100);
    await Promise.all(clients.map(({ client }) => client.close()));
    await Promise.all(instances.map((s) => s.stop('SIGTERM')));
  });
});
