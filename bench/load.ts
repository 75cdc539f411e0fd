// A closed-loop load generator: `concurrency` clients, each with its own MCP session, call one
// tool back to back for a fixed time. Reports throughput and latency percentiles.
import { Agent, request } from 'undici';

export interface LoadResult {
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50: number;
  p99: number;
  /** The server's CPU time (user + system) per answered request, when `serverCpu` was given. */
  cpuMsPerRequest?: number;
}

const ACCEPT = 'application/json, text/event-stream';

export async function initSession(url: string, dispatcher: Agent): Promise<string> {
  const response = await request(url, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json', accept: ACCEPT },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
    }),
  });
  await response.body.text();
  const id = response.headers['mcp-session-id'];
  if (typeof id !== 'string') throw new Error(`initialize at ${url} gave no session id (HTTP ${response.statusCode})`);
  await request(url, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  }).then((r) => r.body.text());
  return id;
}

export async function callOnce(url: string, dispatcher: Agent, sessionId: string, id: number, tool: string): Promise<boolean> {
  const response = await request(url, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: {} } }),
  });
  const text = await response.body.text();
  return response.statusCode === 200 && text.includes('"result"');
}

const MODERN = '2026-07-28';

/** A 2026-07-28 tools/call: no session, the envelope in `_meta`, the standard headers. */
export async function callModern(url: string, dispatcher: Agent, id: number, tool: string): Promise<boolean> {
  const response = await request(url, {
    method: 'POST',
    dispatcher,
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT,
      'mcp-protocol-version': MODERN,
      'mcp-method': 'tools/call',
      'mcp-name': tool,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: {
        name: tool,
        arguments: {},
        _meta: {
          'io.modelcontextprotocol/protocolVersion': MODERN,
          'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  });
  const text = await response.body.text();
  return response.statusCode === 200 && text.includes('"result"');
}

export async function runLoad(
  url: string,
  options: {
    concurrency: number;
    seconds: number;
    warmupSeconds?: number;
    tool?: string;
    era?: '2025' | '2026';
    /** The server process's CPU seconds so far: measured over the recorded phase, per request. */
    serverCpu?: () => number;
  },
): Promise<LoadResult> {
  const tool = options.tool ?? 'test_simple_text';
  const modern = options.era === '2026';
  const dispatcher = new Agent({ connections: options.concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  try {
    // 2026-07-28 clients have no session to open.
    const sessions = await Promise.all(Array.from({ length: options.concurrency }, () => (modern ? '' : initSession(url, dispatcher))));
    const latencies: number[] = [];
    let errors = 0;
    let id = 1;
    const loop = async (sessionId: string, until: number, record: boolean) => {
      while (performance.now() < until) {
        const started = performance.now();
        const call = modern ? callModern(url, dispatcher, id++, tool) : callOnce(url, dispatcher, sessionId, id++, tool);
        const ok = await call.catch(() => false);
        if (!record) continue;
        if (ok) latencies.push(performance.now() - started);
        else errors++;
      }
    };
    const warmupUntil = performance.now() + (options.warmupSeconds ?? 1) * 1000;
    await Promise.all(sessions.map((s) => loop(s, warmupUntil, false)));
    const cpuBefore = options.serverCpu?.();
    const started = performance.now();
    const until = started + options.seconds * 1000;
    await Promise.all(sessions.map((s) => loop(s, until, true)));
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = cpuBefore === undefined ? undefined : options.serverCpu!() - cpuBefore;
    latencies.sort((a, b) => a - b);
    const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
    return {
      concurrency: options.concurrency,
      requests: latencies.length,
      errors,
      seconds,
      throughput: latencies.length / seconds,
      p50: pick(0.5),
      p99: pick(0.99),
      ...(cpuSeconds !== undefined && { cpuMsPerRequest: (cpuSeconds * 1000) / Math.max(1, latencies.length) }),
    };
  } finally {
    await dispatcher.close();
  }
}
