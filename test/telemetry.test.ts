// OpenTelemetry through the standard environment only: the Node entry (as `npm start` runs it)
// exports its spans over OTLP/HTTP (JSON) to a real receiver in this test, continuing the client's
// trace from a 2026-07-28 request's `_meta.traceparent` and from a 2025 request's `traceparent`
// header, with the store's statements as child spans; and it serves Prometheus text on its own
// metrics port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type HistogramMetricData,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { answeringClient, INIT_BODY, postJson, RawSession, readMessages } from './helpers/mcp.js';
import { waitFor } from './helpers/wait.js';
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

/**
 * A Node server on a database of its own that exports spans to `receiver` through the standard
 * OTEL_* environment and serves Prometheus metrics; `env` adds to (or overrides) that.
 */
async function observedServer(receiver: Receiver, databaseName: string, env: Record<string, string> = {}) {
  const endpoint = await receiver.listen();
  const database = await createTestDatabase(databaseName);
  const server = await startServer({ ...observedEnv(endpoint, database.url), ...env });
  return { database, server };
}

/** The environment of a server on `databaseUrl` that exports its spans to `endpoint` and serves metrics. */
function observedEnv(endpoint: string, databaseUrl: string): Record<string, string> {
  return {
    SESSIONS_STORE: 'database',
    DATABASE_URL: databaseUrl,
    BATON_TOOLSETS: 'conformance',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    // The batch processor sends soon after a span ends, so that the test need not wait 5 s.
    OTEL_BSP_SCHEDULE_DELAY: '50',
    BATON_METRICS_PORT: '0',
  };
}

describe('telemetry of the Node server (standard OTEL_* environment)', () => {
  const receiver = new Receiver();
  let database: TestDatabase;
  let server: RunningServer;
  let metricsUrl: string;

  beforeAll(async () => {
    ({ database, server } = await observedServer(receiver, 'baton_otel', { OTEL_SERVICE_NAME: 'baton-telemetry-test' }));
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
    const env = observedEnv(endpoint, database.url);
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

/** A metric's samples from a server's /metrics. */
async function scrape(server: RunningServer): Promise<Sample[]> {
  return parsePrometheus(await (await fetch(metricsUrlOf(server))).text());
}

const sampleOf = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

const API_KEY = 'telemetry-key-0123456789abcdef';
const TASKS = { 'io.modelcontextprotocol/tasks': {} };

describe('telemetry of batches, errors, refusals and tasks (Node server, standard environment)', () => {
  const receiver = new Receiver();
  let database: TestDatabase;
  let server: RunningServer;

  beforeAll(async () => {
    ({ database, server } = await observedServer(receiver, 'baton_otel_errors', {
      // A key makes a wrong key a 401 (anonymous requests still pass); a small body limit a 413.
      BATON_CONFIG_YAML: `auth:\n  api_keys: ['${API_KEY}']\nserver:\n  max_body_bytes: 65536\n`,
    }));
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    receiver.server.close();
  });

  it('a JSON-RPC batch (2025-03-26 session) makes one SERVER span per request in it, each with its own id and error.type', async () => {
    const init = await postJson(server.url, { ...INIT_BODY, params: { ...INIT_BODY.params, protocolVersion: '2025-03-26' } });
    expect(init.status).toBe(200);
    const sessionId = init.headers.get('mcp-session-id')!;
    const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-03-26' };
    await postJson(server.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    const traceId = randomHex(16);
    const parentId = randomHex(8);
    const response = await postJson(
      server.url,
      [
        { jsonrpc: '2.0', id: 'ok-1', method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } },
        { jsonrpc: '2.0', id: 'bad-2', method: 'tools/call', params: { name: 'test_error_handling', arguments: {} } },
        { jsonrpc: '2.0', id: 'gone-3', method: 'prompts/get', params: { name: 'no_such_prompt' } },
      ],
      { ...headers, traceparent: `00-${traceId}-${parentId}-01` },
    );
    expect(response.status).toBe(200);
    const answers = await readMessages(response);
    expect(answers.map((a) => a.id).sort()).toEqual(['bad-2', 'gone-3', 'ok-1']);
    const code = String(answers.find((a) => a.id === 'gone-3').error.code);
    const spanOf = (id: string) =>
      receiver.waitFor((s) => s.traceId === traceId && s.kind === SERVER_KIND && attribute(s, 'jsonrpc.request.id') === id);
    const [ok, bad, gone] = await Promise.all([spanOf('ok-1'), spanOf('bad-2'), spanOf('gone-3')]);
    expect([ok.name, bad.name, gone.name]).toEqual([
      'tools/call test_simple_text',
      'tools/call test_error_handling',
      'prompts/get no_such_prompt',
    ]);
    for (const span of [ok, bad, gone]) {
      expect(span.parentSpanId).toBe(parentId);
      expect(attribute(span, 'mcp.session.id')).toBe(sessionId.slice(0, 8));
    }
    expect(attribute(ok, 'error.type')).toBeUndefined();
    expect(attribute(bad, 'error.type')).toBe('tool_error');
    expect(attribute(gone, 'error.type')).toBe(code);
    expect(attribute(gone, 'rpc.response.status_code')).toBe(code);
  });

  it('a JSON-RPC error answer gives its span and the operation metric error.type (the error code), in both eras', async () => {
    const session = new RawSession((request) => fetch(request), server.url);
    await session.initialize();
    await session.notify('notifications/initialized');
    const legacyTrace = randomHex(16);
    const traced = new RawSession((request) => fetch(request), server.url, { traceparent: `00-${legacyTrace}-${randomHex(8)}-01` });
    traced.id = session.id;
    const legacy = await traced.request('prompts/get', { name: 'no_such_prompt' });
    const legacyCode = String(legacy.messages[0].error.code);
    const modernTrace = randomHex(16);
    const modern = await readMessages(
      await fetch(
        modernRequest(server.url, 'prompts/get', {
          name: 'no_such_prompt',
          _meta: { traceparent: `00-${modernTrace}-${randomHex(8)}-01` },
        }),
      ),
    );
    const modernCode = String(modern[0].error.code);
    const [legacySpan, modernSpan] = await Promise.all([
      receiver.waitFor((s) => s.traceId === legacyTrace && s.kind === SERVER_KIND),
      receiver.waitFor((s) => s.traceId === modernTrace && s.kind === SERVER_KIND),
    ]);
    expect(attribute(legacySpan, 'error.type')).toBe(legacyCode);
    expect(attribute(modernSpan, 'error.type')).toBe(modernCode);
    expect(attribute(modernSpan, 'rpc.response.status_code')).toBe(modernCode);
    const samples = await scrape(server);
    for (const [version, code] of [
      ['2025-11-25', legacyCode],
      ['2026-07-28', modernCode],
    ]) {
      const count = sampleOf(samples, 'mcp_server_operation_duration_seconds_count', {
        mcp_method_name: 'prompts/get',
        mcp_protocol_version: version!,
        error_type: code!,
      });
      expect(count?.value, `prompts/get ${version} error_type ${code}`).toBeGreaterThanOrEqual(1);
    }
  });

  it('refused requests count by status and by cause on /metrics (401, 403, 404, 413)', async () => {
    const statuses = await Promise.all([
      postJson(server.url, INIT_BODY, { authorization: 'Bearer not-the-key' }),
      postJson(server.url, INIT_BODY, { origin: 'https://elsewhere.example' }),
      postJson(
        server.url,
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        { 'mcp-session-id': randomHex(32), 'mcp-protocol-version': '2025-11-25' },
      ),
      postJson(server.url, { ...INIT_BODY, params: { ...INIT_BODY.params, padding: 'x'.repeat(100_000) } }),
    ]).then((responses) =>
      Promise.all(
        responses.map(async (r) => {
          await r.text();
          return r.status;
        }),
      ),
    );
    expect(statuses).toEqual([401, 403, 404, 413]);
    const samples = await scrape(server);
    for (const [status, cause] of [
      ['401', 'credential'],
      ['403', 'origin'],
      ['404', 'session_unknown'],
      ['413', 'body_too_large'],
    ]) {
      const refused = sampleOf(samples, 'baton_requests_refused_total', {
        http_response_status_code: status!,
        baton_refusal_cause: cause!,
        error_type: status!,
      });
      expect(refused?.value, `refused ${status} ${cause}`).toBeGreaterThanOrEqual(1);
    }
  });

  it('a 2026-07-28 task: its run is a span under the tools/call that created it, finished with its status; task metrics on /metrics', async () => {
    const traceId = randomHex(16);
    const capabilities = { 'io.modelcontextprotocol/clientCapabilities': { extensions: TASKS } };
    const call = async (name: string, trace: string) => {
      const [answer] = await readMessages(
        await fetch(
          modernRequest(server.url, 'tools/call', {
            name,
            arguments: name === 'slow_compute' ? { seconds: 0 } : {},
            _meta: { ...capabilities, traceparent: `00-${trace}-${randomHex(8)}-01` },
          }),
        ),
      );
      expect(answer.result).toMatchObject({ resultType: 'task', status: 'working' });
      return answer.result.taskId as string;
    };
    const taskId = await call('slow_compute', traceId);
    const failingTrace = randomHex(16);
    await call('failing_job', failingTrace);
    const callSpan = await receiver.waitFor((s) => s.traceId === traceId && s.kind === SERVER_KIND);
    expect(attribute(callSpan, 'baton.task.id')).toBe(taskId.slice(0, 8));
    const run = await receiver.waitFor((s) => s.traceId === traceId && s.name === 'baton.task.run slow_compute');
    expect(run.parentSpanId).toBe(callSpan.spanId);
    expect(attribute(run, 'baton.task.id')).toBe(taskId.slice(0, 8));
    expect(attribute(run, 'gen_ai.tool.name')).toBe('slow_compute');
    expect(Number(attribute(run, 'baton.task.attempt'))).toBe(1);
    expect(attribute(run, 'baton.task.status')).toBe('completed');
    // The task's statements (its outcome written) are children of its run.
    const settle = await receiver.waitFor((s) => s.traceId === traceId && s.parentSpanId === run.spanId);
    expect(attribute(settle, 'db.system.name')).toBe('postgresql');
    const failed = await receiver.waitFor((s) => s.traceId === failingTrace && s.name === 'baton.task.run failing_job');
    expect(attribute(failed, 'baton.task.status')).toBe('completed');
    expect(attribute(failed, 'error.type')).toBe('tool_error');
    const samples = await scrape(server);
    expect(sampleOf(samples, 'baton_tasks_created_total', { gen_ai_tool_name: 'slow_compute' })?.value).toBeGreaterThanOrEqual(1);
    expect(
      sampleOf(samples, 'baton_tasks_finished_total', { gen_ai_tool_name: 'slow_compute', baton_task_status: 'completed' })?.value,
    ).toBeGreaterThanOrEqual(1);
    // Tasks in the store by status (one statement per scrape).
    expect(sampleOf(samples, 'baton_tasks', { baton_task_status: 'completed' })?.value).toBeGreaterThanOrEqual(2);
    expect(sampleOf(samples, 'baton_tasks', { baton_task_status: 'working' })).toBeDefined();
  });
});

describe('telemetry of sessions that end by expiry', () => {
  it('a session the cleanup sweeps is measured by mcp.server.session.duration (expired) on /metrics', async () => {
    const database = await createTestDatabase('baton_otel_expiry');
    const server = await startServer({
      SESSIONS_STORE: 'database',
      DATABASE_URL: database.url,
      BATON_TOOLSETS: 'conformance',
      BATON_METRICS_PORT: '0',
      BATON_CONFIG_YAML: 'sessions:\n  idle_timeout: 1s\n  cleanup_interval: 200ms\n',
    });
    try {
      const session = new RawSession((request) => fetch(request), server.url);
      expect((await session.initialize()).status).toBe(200);
      const expired = await waitFor(
        async () => sampleOf(await scrape(server), 'mcp_server_session_duration_seconds_count', { baton_session_end: 'expired' }),
        { what: 'an expired session on /metrics', timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(expired.value).toBeGreaterThanOrEqual(1);
      const sum = sampleOf(await scrape(server), 'mcp_server_session_duration_seconds_sum', { baton_session_end: 'expired' });
      // Its life ended when it went idle (about a second after its creation), not when the sweep found it.
      expect(sum?.value).toBeGreaterThan(0);
    } finally {
      await server.stop();
      await database.drop();
    }
  }, 120_000);
});

describe('telemetry in one process: a revoked session, a task taken over', () => {
  const receiver = new Receiver();
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  let sdk: NodeSDK;
  let database: TestDatabase;
  let platform: Platform;
  const saved = { ...process.env };

  beforeAll(async () => {
    // The Node SDK as an embedding server installs it, configured by the standard environment.
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: await receiver.listen(),
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    sdk = new NodeSDK({ serviceName: 'baton-in-process', metricReaders: [reader] });
    sdk.start();
    database = await createTestDatabase('baton_otel_inproc');
    platform = await createPlatform(
      parseConfig({ toolsets: ['conformance'], sessions: { store: 'database' }, database: { driver: 'pg', dsn: database.url } }, {}),
      { logger: createLogger('error'), openDatabase: openNodeDatabase },
    );
    await platform.store.ready?.();
  });

  afterAll(async () => {
    await platform?.close();
    await database?.drop();
    await sdk?.shutdown();
    for (const api of [trace, metrics, context, propagation]) api.disable();
    process.env = saved;
    receiver.server.close();
  });

  const collected = async (name: string) =>
    (await reader.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);

  it('a revoked session is measured by mcp.server.session.duration (revoked)', async () => {
    const session = new RawSession((request) => platform.app.fetch(request));
    expect((await session.initialize()).status).toBe(200);
    expect(await (platform.store as DatabaseSessionStore).revoke(session.id)).toBe(true);
    const duration = (await collected('mcp.server.session.duration')) as HistogramMetricData | undefined;
    const revoked = duration?.dataPoints.find((p) => p.attributes['baton.session.end'] === 'revoked');
    expect(revoked?.value.count).toBe(1);
    expect(revoked?.value.sum).toBeGreaterThanOrEqual(0);
  });

  it('a task taken over from an instance that is gone runs under a baton.task.takeover span, counted', async () => {
    const tasks = platform.store.tasks;
    // Created by an instance whose lease ran out at once: the takeover's next look claims it.
    const created = await tasks.create({
      credentialHash: '',
      tool: 'slow_compute',
      arguments: { seconds: 0 },
      ttlMs: 60_000,
      rerunnable: true,
      lease: { owner: 'an-instance-that-is-gone', ms: 0 },
      caller: { principal: undefined, clientCapabilities: undefined, clientInfo: undefined },
    });
    const report = await platform.takeover.run();
    expect(report.rerun).toContain(created.id);
    await report.runs;
    const takeover = await receiver.waitFor((s) => s.name === 'baton.task.takeover');
    expect(attribute(takeover, 'baton.task.id')).toBe(created.id.slice(0, 8));
    expect(Number(attribute(takeover, 'baton.task.attempt'))).toBe(2);
    const taskRun = await receiver.waitFor((s) => s.name === 'baton.task.run slow_compute' && s.parentSpanId === takeover.spanId);
    expect(taskRun.traceId).toBe(takeover.traceId);
    expect(attribute(taskRun, 'baton.task.status')).toBe('completed');
    const counted = (await collected('baton.tasks.taken_over')) as SumMetricData | undefined;
    expect(counted?.dataPoints.map((p) => [p.attributes['gen_ai.tool.name'], p.value])).toEqual([['slow_compute', 1]]);
    expect((await tasks.get(created.id, 'all'))?.status).toBe('completed');
  });
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
