// Graceful shutdown of the real Node entry (child process, signals as Kubernetes sends them):
// readiness 503 during the pre-shutdown delay, a slow call in flight completes, exit 0, and the
// session carries on in a new process; readiness 503 while the store is not there at start-up;
// a second signal exits at once; the grace period bounds the wait.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { freePort, startServer, untilReady, type RunningServer } from './helpers/server.js';
import { connectClient, RawSession } from './helpers/mcp.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor } from './helpers/wait.js';

let db: TestDatabase;
const running: RunningServer[] = [];

beforeAll(async () => {
  db = await createTestDatabase('baton_shutdown');
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop('SIGKILL')));
  await db?.drop();
});

function shutdownYaml(preShutdownDelay: string, gracePeriod: string): string {
  return `server:\n  shutdown:\n    pre_shutdown_delay: ${preShutdownDelay}\n    grace_period: ${gracePeriod}\n`;
}

async function start(env: Record<string, string>, port?: number): Promise<RunningServer> {
  const server = await startServer({ BATON_TOOLSETS: 'diagnostics', ...env }, port ? { port } : {});
  running.push(server);
  return server;
}

function base(server: RunningServer): string {
  return `http://127.0.0.1:${server.port}`;
}

/** Status of GET path, or 0 when nothing answers. */
async function probe(server: RunningServer, path: string): Promise<number> {
  try {
    const response = await fetch(`${base(server)}${path}`);
    await response.text();
    return response.status;
  } catch {
    return 0;
  }
}

const logged = (server: RunningServer, msg: string) => server.logs.join('').includes(`"msg":"${msg}"`);

describe('SIGTERM on the Node server (database store, pg)', () => {
  it('lets a slow call finish, answers 503 on /readyz during the delay, exits 0; the session carries on in a new process', async () => {
    // The delay is long, so that probing (on a loaded machine too) sees the server through it;
    // the call outlasts it, so that it is still running when the server stops accepting.
    const env = { SESSIONS_STORE: 'database', DATABASE_URL: db.url, BATON_CONFIG_YAML: shutdownYaml('5s', '20s') };
    const first = await start(env);
    const port = first.port;
    await untilReady(first);

    const { client, transport } = await connectClient(first.url);
    const sessionId = transport.sessionId;
    let progress = 0;
    const call = client.callTool({ name: 'sleep', arguments: { ms: 7_000 } }, undefined, { onprogress: () => progress++, timeout: 60_000 });
    // The call is running once it reports progress.
    await waitFor(() => progress > 0, { what: 'progress from the slow tool' });

    const exited = first.stop('SIGTERM');
    const readiness: number[] = [];
    const liveness: number[] = [];
    // Probe from the signal on, until the server stops accepting connections: readiness is 200
    // until the signal is handled, then 503 for good; liveness stays 200.
    for (;;) {
      const [ready, live] = await Promise.all([probe(first, '/readyz'), probe(first, '/healthz')]);
      if (ready === 0 || live === 0) break;
      readiness.push(ready);
      liveness.push(live);
      await sleep(100);
    }
    const stoppedAccepting = Date.now();
    const draining = readiness.indexOf(503);
    expect(draining).toBeGreaterThanOrEqual(0);
    expect(new Set(readiness.slice(0, draining))).toEqual(new Set(draining > 0 ? [200] : []));
    expect(new Set(readiness.slice(draining))).toEqual(new Set([503]));
    expect(new Set(liveness)).toEqual(new Set([200]));
    // It kept accepting through the delay: measured from the server's own "shutting down" line, so
    // that a slow test noticing it late cannot shorten the interval (a lower bound only).
    await waitFor(() => logged(first, 'shutting down'), { what: 'the log line "shutting down"' });
    const shuttingDownAt = Date.parse(
      JSON.parse(
        first.logs
          .join('')
          .split('\n')
          .find((l) => l.includes('"msg":"shutting down"'))!,
      ).time,
    );
    expect(stoppedAccepting - shuttingDownAt).toBeGreaterThanOrEqual(4_900);

    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(result.content).toEqual([{ type: 'text', text: 'slept 7000 ms' }]);
    // Reports went on through the shutdown: at least the first one and the last (how many lie
    // between depends on how the machine keeps time).
    expect(progress).toBeGreaterThanOrEqual(2);
    expect(await exited).toBe(0);
    const logs = first.logs.join('');
    for (const msg of ['shutting down', 'drained', 'shutdown complete']) expect(logs).toContain(`"msg":"${msg}"`);
    expect(logs).not.toContain('cut off');

    const second = await start(env, port);
    const again = await client.callTool({ name: 'sleep', arguments: { ms: 10 } });
    expect(again.content).toEqual([{ type: 'text', text: 'slept 10 ms' }]);
    expect(transport.sessionId).toBe(sessionId);
    await client.close();
    expect(await second.stop('SIGTERM')).toBe(0);
  });
});

describe('start-up', () => {
  it('answers 503 on /readyz (200 on /healthz) until the database can be reached, then 200', async () => {
    // The database is reached through a proxy that refuses connections at first and is opened
    // later, the way a database comes up after the application.
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
    try {
      await proxy.cut();
      const server = await start({
        SESSIONS_STORE: 'database',
        DATABASE_URL: proxy.rewrite(db.url),
        BATON_CONFIG_YAML: shutdownYaml('0s', '5s'),
      });
      await waitFor(() => server.logs.join('').split('session store not ready').length > 2, {
        what: 'two "session store not ready" log lines',
      });
      expect(await probe(server, '/readyz')).toBe(503);
      expect(await (await fetch(`${base(server)}/readyz`)).json()).toEqual({
        status: 'starting',
        reason: 'Session store unavailable: the database cannot be reached (connection refused); retry shortly',
      });
      expect(await probe(server, '/healthz')).toBe(200);

      await proxy.restore();
      await untilReady(server);
      expect(logged(server, 'ready')).toBe(true);
      expect(await server.stop('SIGTERM')).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('exits 0 on SIGTERM while still waiting for the database', async () => {
    const url = new URL(db.url);
    url.port = String(await freePort());
    const server = await start({ SESSIONS_STORE: 'database', DATABASE_URL: url.toString(), BATON_CONFIG_YAML: shutdownYaml('0s', '5s') });
    await waitFor(() => server.logs.join('').includes('session store not ready'), { what: 'the log line "session store not ready"' });
    expect(await server.stop('SIGTERM')).toBe(0);
  });
});

describe('signals and the grace period (memory store)', () => {
  it('exits at once on a second signal, with 128 + its number', async () => {
    const server = await start({ BATON_CONFIG_YAML: shutdownYaml('30s', '30s') });
    server.child.kill('SIGTERM');
    await waitFor(() => logged(server, 'shutting down'), { what: 'the log line "shutting down"' });
    // 130 comes only from the second signal: a drained exit would be 0, and only after 30 s.
    expect(await server.stop('SIGINT')).toBe(130);
    expect(server.logs.join('')).toContain('"msg":"second signal, exiting now"');
  });

  it('hands over a call still running when the grace period ends (its stream ends cleanly, for the client to resume), and exits 0', async () => {
    const server = await start({ BATON_CONFIG_YAML: shutdownYaml('0s', '1s') });
    // A raw client: the SDK's would try to resume the stream, which hides how it ended.
    const session = new RawSession(fetch, server.url);
    await session.initialize();
    // Its event stream has begun (the first progress report) once the response's head arrives.
    const response = await session.send('POST', {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'sleep', arguments: { ms: 20_000 }, _meta: { progressToken: 1 } },
    });
    const call = response.text().then(
      (body) => (body.includes('slept 20000 ms') ? 'answered' : 'ended without an answer'),
      () => 'connection closed',
    );
    // Exit 0, and a stream that ended instead of a dropped connection: the 20 s call (a tool that
    // may run again) was handed over at the 1 s grace period, for whichever instance the client
    // resumes its stream on (test/lifecycle-handover.test.ts follows it there).
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(await call).toBe('ended without an answer');
    const logs = server.logs.join('');
    expect(logs).toContain('"msg":"grace period over, closing connections still open"');
    expect(logs).toContain('"msg":"call handed over"');
  });
});
