// Spans from a Worker, through the setup docs/observability.md documents: examples/worker-otel
// (otel-cf-workers' `instrument` around createWorker) runs in workerd (`wrangler dev`) and exports
// over OTLP/HTTP to a real receiver in this test. The example imports `mcp-baton/worker` as a user
// project does; test/fixtures/worker-otel/wrangler.toml runs the example's entry with that import
// resolved to this repository's sources.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { INIT_BODY, postJson, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { attribute, Receiver, SERVER_KIND } from './helpers/otlp.js';
import { ROOT } from './helpers/server.js';
import { startWrangler, type RunningWorker } from './helpers/wrangler.js';

const receiver = new Receiver();
let worker: RunningWorker;

const randomHex = (bytes: number) =>
  [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');

beforeAll(async () => {
  const endpoint = await receiver.listen();
  worker = await startWrangler({
    cwd: join(ROOT, 'test/fixtures/worker-otel'),
    vars: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'baton-worker-otel-test', BATON_TOOLSETS: 'conformance' },
    timeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  receiver.server.close();
});

it('exports the MCP server span of a 2026-07-28 tools/call, in the trace of its _meta.traceparent', async () => {
  const traceId = randomHex(16);
  const parentId = randomHex(8);
  const response = await fetch(
    modernRequest(worker.url, 'tools/call', {
      name: 'test_simple_text',
      arguments: {},
      _meta: { traceparent: `00-${traceId}-${parentId}-01` },
    }),
  );
  expect(response.status).toBe(200);
  expect((await readMessages(response))[0].result.content).toBeDefined();
  const span = await receiver.waitFor((s) => s.traceId === traceId && s.kind === SERVER_KIND && s.name.startsWith('tools/call'));
  expect(span).toMatchObject({ name: 'tools/call test_simple_text', parentSpanId: parentId });
  expect(attribute(span, 'mcp.method.name')).toBe('tools/call');
  expect(attribute(span, 'gen_ai.tool.name')).toBe('test_simple_text');
  expect(attribute(span, 'gen_ai.operation.name')).toBe('execute_tool');
  expect(attribute(span, 'mcp.protocol.version')).toBe('2026-07-28');
  expect(attribute(span, 'jsonrpc.request.id')).toBeDefined();
  expect(span.resource.find((a) => a.key === 'service.name')?.value.stringValue).toBe('baton-worker-otel-test');
}, 60_000);

it('exports the span of a 2025 initialize, in the trace of its traceparent header', async () => {
  const traceId = randomHex(16);
  const parentId = randomHex(8);
  const response = await postJson(worker.url, INIT_BODY, { traceparent: `00-${traceId}-${parentId}-01` });
  expect(response.status).toBe(200);
  await readMessages(response);
  const span = await receiver.waitFor((s) => s.traceId === traceId && s.kind === SERVER_KIND && s.name === 'initialize');
  expect(span.parentSpanId).toBe(parentId);
  expect(attribute(span, 'mcp.method.name')).toBe('initialize');
  expect(attribute(span, 'mcp.protocol.version')).toBe('2025-11-25');
}, 60_000);
