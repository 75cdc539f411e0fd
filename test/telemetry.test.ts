// OpenTelemetry through the standard environment only: the Node entry (as `npm start` runs it)
// exports its spans over OTLP/HTTP (JSON) to a real receiver in this test, continuing the client's
// trace from a 2026-07-28 request's `_meta.traceparent` and from a 2025 request's `traceparent`
// header, with the store's statements as child spans; and it serves Prometheus text on its own
// metrics port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { answeringClient, RawSession, readMessages } from './helpers/mcp.js';
import { startRoundRobinProxy } from './helpers/proxy.js';
import { modernRequest } from './helpers/modern.js';
import { attribute, type OtlpSpan, Receiver, SERVER_KIND } from './helpers/otlp.js';
import { startServer, type RunningServer } from './helpers/server.js';

/** The /metrics address a server named in its `telemetry` start-up line. */
function metricsUrlOf(server: RunningServer): string {
  const line = server.logs
    .join('')
    .split('\n')
    .find((l) => l.includes('"msg":"telemetry"'));
  return `http://127.0.0.1:${(JSON.parse(line!) as { metricsPort: number }).metricsPort}/metrics`;
}

const processId = (span: OtlpSpan) => span.resource.find((a) => a.key === 'process.pid')?.value.intValue;

const randomHex = (bytes: number) =>
  [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');

describe('telemetry of the Node server (standard OTEL_* environment)', () => {
  const receiver = new Receiver();
  let database: TestDatabase;
  let server: RunningServer;
  let metricsUrl: string;

  beforeAll(async () => {
    const endpoint = await receiver.listen();
    database = await createTestDatabase('baton_otel');
    server = await startServer({
      SESSIONS_STORE: 'database',
      DATABASE_URL: database.url,
      BATON_TOOLSETS: 'conformance',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'baton-telemetry-test',
      // The batch processor sends soon after a span ends, so that the test need not wait 5 s.
      OTEL_BSP_SCHEDULE_DELAY: '50',
      BATON_METRICS_PORT: '0',
    });
    metricsUrl = metricsUrlOf(server);
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    receiver.server.close();
  });

  it('a 2026-07-28 tools/call continues the trace of its _meta.traceparent (same trace, the client span as parent)', async () => {
    const traceId = randomHex(16);
    const parentId = randomHex(8);
    const response = await fetch(
      modernRequest(server.url, 'tools/call', {
        name: 'test_simple_text',
        arguments: {},
        _meta: { traceparent: `00-${traceId}-${parentId}-01` },
      }),
    );
    expect(response.status).toBe(200);
    await readMessages(response);
    const span = await receiver.waitFor((s) => s.traceId === traceId && s.kind === SERVER_KIND);
    expect(span).toMatchObject({ name: 'tools/call test_simple_text', parentSpanId: parentId });
    expect(attribute(span, 'mcp.method.name')).toBe('tools/call');
    expect(attribute(span, 'gen_ai.tool.name')).toBe('test_simple_text');
    expect(attribute(span, 'mcp.protocol.version')).toBe('2026-07-28');
    expect(attribute(span, 'jsonrpc.request.id')).toBeDefined();
  });

  it('a 2025 request continues the trace of its traceparent header; its session statement is a child span', async () => {
    const session = new RawSession((request) => fetch(request), server.url);
    expect((await session.initialize()).status).toBe(200);
    await session.notify('notifications/initialized');
    const traceId = randomHex(16);
    const parentId = randomHex(8);
    const traced = new RawSession((request) => fetch(request), server.url, { traceparent: `00-${traceId}-${parentId}-01` });
    traced.id = session.id;
    const { status, result } = await traced.callTool('test_simple_text');
    expect(status).toBe(200);
    expect(result.content[0].text).toBeDefined();
    const span = await receiver.waitFor((s) => s.traceId === traceId && s.kind === SERVER_KIND);
    expect(span).toMatchObject({ name: 'tools/call test_simple_text', parentSpanId: parentId });
    expect(attribute(span, 'mcp.session.id')).toBe(session.id.slice(0, 8));
    expect(attribute(span, 'mcp.protocol.version')).toBe('2025-11-25');
    const statement = await receiver.waitFor((s) => s.traceId === traceId && s.parentSpanId === span.spanId);
    expect(attribute(statement, 'db.system.name')).toBe('postgresql');
    expect(attribute(statement, 'db.operation.name')).toMatch(/^[A-Z]+$/);
    // Its text has placeholders, never the session id it was run with.
    expect(String(attribute(statement, 'db.query.text'))).not.toContain(session.id);
  });

  it('/metrics on the metrics port is Prometheus text with the MCP operation histogram, live sessions and statements per request', async () => {
    const session = new RawSession((request) => fetch(request), server.url);
    await session.initialize();
    await session.notify('notifications/initialized');
    expect((await session.callTool('test_simple_text')).status).toBe(200);
    // Not on the public port.
    expect((await fetch(server.url.replace('/mcp', '/metrics'))).status).toBe(404);
    // The session's GET stream is open from its headers on.
    const stopStream = new AbortController();
    const stream = await fetch(server.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': session.id, 'mcp-protocol-version': '2025-11-25' },
      signal: stopStream.signal,
    });
    expect(stream.status).toBe(200);
    const response = await fetch(metricsUrl);
    stopStream.abort();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    const samples = parsePrometheus(text);
    const bucket = samples.find(
      (s) =>
        s.name === 'mcp_server_operation_duration_seconds_bucket' &&
        s.labels.mcp_method_name === 'tools/call' &&
        s.labels.gen_ai_tool_name === 'test_simple_text' &&
        s.labels.le === '+Inf',
    );
    expect(bucket?.value).toBeGreaterThanOrEqual(1);
    const streams = samples.find((s) => s.name === 'baton_streams_open' && s.labels.baton_stream_kind === 'session');
    expect(streams?.value).toBeGreaterThanOrEqual(1);
    const live = samples.find((s) => s.name === 'baton_sessions_live');
    expect(live?.value).toBeGreaterThanOrEqual(1);
    const statements = samples.find((s) => s.name === 'baton_request_statements_count' && s.labels.mcp_method_name === 'tools/call');
    expect(statements?.value).toBeGreaterThanOrEqual(1);
    const statementSum = samples.find((s) => s.name === 'baton_request_statements_sum' && s.labels.mcp_method_name === 'tools/call');
    expect(statementSum?.value).toBeGreaterThanOrEqual(statements!.value);
  });
});

describe('telemetry of the Node server when it stops', () => {
  it('on SIGTERM the server flushes its spans: a request made just before the signal reaches the receiver', async () => {
    const receiver = new Receiver();
    const endpoint = await receiver.listen();
    const database = await createTestDatabase('baton_otel_stop');
    try {
      const server = await startServer({
        SESSIONS_STORE: 'database',
        DATABASE_URL: database.url,
        BATON_TOOLSETS: 'conformance',
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // The batch processor would send after ten minutes: only the flush at shutdown delivers.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
        BATON_CONFIG_YAML: 'server:\n  shutdown:\n    pre_shutdown_delay: 0\n',
      });
      const traceId = randomHex(16);
      const response = await fetch(
        modernRequest(server.url, 'tools/call', {
          name: 'test_simple_text',
          arguments: {},
          _meta: { traceparent: `00-${traceId}-${randomHex(8)}-01` },
        }),
      );
      await readMessages(response);
      expect(await server.stop('SIGTERM')).toBe(0);
      // The process exits only after the exporter's request was answered, so the span is here.
      expect(receiver.spans.filter((s) => s.traceId === traceId && s.kind === SERVER_KIND).map((s) => s.name)).toEqual([
        'tools/call test_simple_text',
      ]);
      // The drain itself, ended before the flush.
      const drain = receiver.spans.find((s) => s.name === 'baton.drain');
      expect(drain?.attributes.find((a) => a.key === 'baton.drain.drained')?.value.boolValue).toBe(true);
      expect(attribute(drain!, 'baton.drain.reason')).toBe('SIGTERM');
    } finally {
      await database.drop();
      receiver.server.close();
    }
  });
});

describe('telemetry of two Node instances behind a round-robin proxy', () => {
  it('a 2025 elicitation whose reply lands on the other instance is one trace with spans from both processes', async () => {
    const receiver = new Receiver();
    const endpoint = await receiver.listen();
    const database = await createTestDatabase('baton_otel_two');
    const env = {
      SESSIONS_STORE: 'database',
      DATABASE_URL: database.url,
      BATON_TOOLSETS: 'conformance',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      BATON_METRICS_PORT: '0',
    };
    const servers = [await startServer(env), await startServer(env)];
    const proxy = await startRoundRobinProxy(servers.map((s) => `http://127.0.0.1:${s.port}`));
    // The client plays an instrumented one: its call carries a traceparent header, and it answers
    // the elicitation inside the trace the elicitation's _meta names (a span of its own as parent).
    // Each call a trace of its own.
    let traceId = '';
    const clientSpanId = randomHex(8);
    let elicitationMeta: Record<string, unknown> | undefined;
    const client = answeringClient('traced');
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      elicitationMeta = request.params._meta;
      return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
    });
    const traced = (input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string; result?: unknown }) : undefined;
      if (body?.method === 'tools/call') headers.set('traceparent', `00-${traceId}-${clientSpanId}-01`);
      if (body?.result !== undefined) headers.set('traceparent', `00-${traceId}-${randomHex(8)}-01`);
      return fetch(input, { ...init, headers });
    };
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/mcp`), { fetch: traced }));
      // Round robin sends a call and its reply to different instances unless another request of
      // the client (its GET stream) falls between them: call until one reply has crossed.
      let crossed = false;
      for (let i = 0; i < 10 && !crossed; i++) {
        traceId = randomHex(16);
        const before = proxy.requests.length;
        const result = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
        expect(result.isError).toBeFalsy();
        const posts = proxy.requests.slice(before).filter((r) => r.method === 'POST');
        const call = posts.find((r) => r.body.includes('"tools/call"'));
        const reply = posts.find((r) => r.body.includes('"result"'));
        crossed = call !== undefined && reply !== undefined && call.backend !== reply.backend;
        if (!crossed) continue;
        // The elicitation carried the call's trace in its _meta.
        expect(String(elicitationMeta?.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
        const callSpan = await receiver.waitFor(
          (s) =>
            s.traceId === traceId && s.kind === SERVER_KIND && s.name === 'tools/call test_elicitation' && s.parentSpanId === clientSpanId,
        );
        expect(String(elicitationMeta?.traceparent).split('-')[2]).toBe(callSpan.spanId);
        const forward = await receiver.waitFor((s) => s.traceId === traceId && s.name === 'baton.reply.forward');
        const deliver = await receiver.waitFor((s) => s.traceId === traceId && s.name === 'baton.reply.deliver');
        // Forwarded by the instance the reply landed on, delivered under the call on the one that runs it.
        expect(processId(forward)).toBeDefined();
        expect(processId(forward)).not.toBe(processId(callSpan));
        expect(processId(deliver)).toBe(processId(callSpan));
        expect(deliver.parentSpanId).toBe(callSpan.spanId);
        expect(deliver.links?.map((l) => l.spanId)).toEqual([forward.spanId]);
        expect(deliver.attributes.find((a) => a.key === 'baton.reply.forwarded')?.value.boolValue).toBe(true);
        // The forward's channel statement is its child, on the same process.
        const publish = await receiver.waitFor((s) => s.traceId === traceId && s.parentSpanId === forward.spanId);
        expect(attribute(publish, 'db.system.name')).toBe('postgresql');
        expect(processId(publish)).toBe(processId(forward));
        // The instance that delivered it measured how long the reply took to cross.
        const delivering = servers.find((s) => s.child.pid === processId(deliver))!;
        const lag = parsePrometheus(await (await fetch(metricsUrlOf(delivering))).text()).find(
          (s) => s.name === 'baton_channel_delivery_lag_seconds_count' && s.labels.baton_channel_topic === 'instance',
        );
        expect(lag?.labels.baton_channel_wakeup).toBe('notify');
        expect(lag?.value).toBeGreaterThanOrEqual(1);
      }
      expect(crossed).toBe(true);
    } finally {
      await client.close();
      await proxy.close();
      await Promise.all(servers.map((s) => s.stop('SIGKILL')));
      await database.drop();
      receiver.server.close();
    }
  }, 120_000);
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition (0.0.4): every line a comment, blank, or a sample; anything else fails. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    const value = match[3] === '+Inf' ? Infinity : Number(match[3]);
    if (Number.isNaN(value)) throw new Error(`not a sample value: ${line}`);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}
