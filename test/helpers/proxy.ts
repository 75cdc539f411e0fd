// A round-robin HTTP proxy on loopback: each request goes to the next backend, streaming both
// ways, the way a load balancer spreads one client's requests over instances.
//
// With `readiness`, it behaves like a load balancer with health checks: it probes every backend's
// readiness endpoint on an interval (a fresh connection per probe) and routes only to backends
// whose last probe answered 200, so an instance that starts draining (503) is deregistered within
// one interval, and a new one is registered once it reports ready.
import { createServer, get as httpGet, request as httpRequest, type Server } from 'node:http';
import { sleep } from './wait.js';

export interface Proxy {
  url: string;
  /** Which backend index served each request, in order. */
  served: number[];
  /**
   * Each request as the proxy passed it on, in order: its backend, HTTP method and the start of
   * its body (enough for a JSON-RPC message of a test; large uploads are cut).
   */
  requests: ProxiedRequest[];
  backends: string[];
  /** With readiness checks: the backends whose last probe answered 200. */
  readonly ready: string[];
  close(): Promise<void>;
}

export interface ProxiedRequest {
  backend: number;
  method: string;
  body: string;
}

/** How much of each request's body `requests` keeps. */
const KEPT_BODY_BYTES = 64 * 1024;

export interface ReadinessOptions {
  /** Default /readyz. */
  path?: string;
  /** Default 100 ms. */
  intervalMs?: number;
  /** How long a request waits for some backend to be ready before it gets 503; default 10 s. */
  waitMs?: number;
}

export interface ProxyOptions {
  readiness?: ReadinessOptions;
}

/** Status of GET url on a new connection, 0 when nothing answers within the timeout. */
function probe(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const request = httpGet(url, { agent: false, timeout: timeoutMs }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', () => resolve(0));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

export async function startRoundRobinProxy(backends: string[], options: ProxyOptions = {}): Promise<Proxy> {
  let next = 0;
  const served: number[] = [];
  const requests: ProxiedRequest[] = [];
  const state = { backends };
  const readiness = options.readiness;
  const ready = new Set<string>();
  let closed = false;

  const checkAll = async (intervalMs: number, path: string) => {
    await Promise.all(
      state.backends.map(async (backend) => {
        const status = await probe(new URL(path, backend).toString(), Math.max(intervalMs, 500));
        if (status === 200) ready.add(backend);
        else ready.delete(backend);
      }),
    );
  };
  let checker: Promise<void> | undefined;
  if (readiness) {
    const intervalMs = readiness.intervalMs ?? 100;
    const path = readiness.path ?? '/readyz';
    await checkAll(intervalMs, path);
    checker = (async () => {
      while (!closed) {
        await sleep(intervalMs);
        await checkAll(intervalMs, path);
      }
    })();
  }

  /** Index of the next backend to use, or -1 when none is ready in time. */
  const pick = async (): Promise<number> => {
    if (!readiness) return next++ % state.backends.length;
    const deadline = Date.now() + (readiness.waitMs ?? 10_000);
    for (;;) {
      for (let tries = 0; tries < state.backends.length; tries++) {
        const index = next++ % state.backends.length;
        if (ready.has(state.backends[index]!)) return index;
      }
      if (Date.now() > deadline || closed) return -1;
      await sleep(10);
    }
  };

  const server: Server = createServer(async (req, res) => {
    const index = await pick();
    if (index < 0) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'proxy: no backend is ready' }, id: null }));
      return;
    }
    served.push(index);
    const record: ProxiedRequest = { backend: index, method: req.method ?? 'GET', body: '' };
    requests.push(record);
    req.on('data', (chunk: Buffer) => {
      if (record.body.length < KEPT_BODY_BYTES) record.body += chunk.toString('utf8', 0, KEPT_BODY_BYTES - record.body.length);
    });
    const target = new URL(req.url ?? '/', state.backends[index]);
    const upstream = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: `proxy: ${error.message}` }, id: null }));
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    requests,
    get backends() {
      return state.backends;
    },
    set backends(list: string[]) {
      state.backends = list;
    },
    get ready() {
      return state.backends.filter((backend) => ready.has(backend));
    },
    close: async () => {
      closed = true;
      await checker;
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  } as Proxy;
}
