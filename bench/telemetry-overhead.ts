// What the telemetry calls cost a request when no OpenTelemetry SDK is installed (the no-op API),
// timed in this process without a server, so that a loaded machine's noise (which swamps a 2 %
// difference in end-to-end throughput) does not decide the answer: the request wrapper
// (observeMcpRequest) around a handler that answers at once, and one statement's wrapper
// (observeStatement), each against calling the handler directly. `tsx bench/telemetry-overhead.ts`
import { observeMcpRequest } from '../src/telemetry/mcp-request.js';
import { observeStatement } from '../src/telemetry/statements.js';

const ROUNDS = 7;
const CALLS = 200_000;
const request = new Request('http://127.0.0.1/mcp', {
  method: 'POST',
  headers: { 'mcp-session-id': 'a'.repeat(43), 'mcp-protocol-version': '2025-11-25' },
});
const body = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } };
const answer = new Response('{}', { headers: { 'content-type': 'application/json' } });
const handle = async () => answer;
const statement = { driver: 'pg', name: 'baton_session_open', text: () => 'select 1' };

async function perCall(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await run();
  return ((performance.now() - started) * 1000) / CALLS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Record<string, number[]> = { direct: [], request: [], statement: [] };
for (let round = 0; round < ROUNDS; round++) {
  rows.direct!.push(await perCall(handle));
  rows.request!.push(await perCall(() => observeMcpRequest(request, body, handle)));
  rows.statement!.push(await perCall(() => observeStatement(statement, handle)));
}
const direct = median(rows.direct!);
for (const [name, xs] of Object.entries(rows)) {
  const spread = `${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`;
  console.log(`${name.padEnd(10)} ${median(xs).toFixed(3)} µs/call (spread ${spread}), added ${(median(xs) - direct).toFixed(3)} µs`);
}
