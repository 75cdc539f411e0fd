// Run with --expose-gc: resident memory the memory store needs per idle session.
import { MemorySessionStore } from '../src/sessions/memory-store.js';
import { newSessionId } from '../src/sessions/ids.js';

const count = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const settle = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage();
};

const store = new MemorySessionStore({ ttlMs: 3_600_000, idleTimeoutMs: 1_800_000 });
const before = settle();
for (let i = 0; i < count; i++) {
  // A typical session: what the SDK client negotiates, a logging level and one subscription.
  await store.create({
    id: newSessionId(),
    credentialHash: '',
    protocolVersion: '2025-11-25',
    clientCapabilities: { elicitation: { form: {} }, sampling: {}, roots: { listChanged: true } },
    clientInfo: { name: 'claude-code', version: '2.1.0' },
    state: { 'mcp.logging_level': 'info', 'mcp.sub:file:///project/README.md': true },
  });
}
const after = settle();
console.log(
  JSON.stringify({
    // Reading the store after measuring keeps it alive until then.
    sessions: store.size,
    rssBytesPerSession: (after.rss - before.rss) / count,
    heapBytesPerSession: (after.heapUsed - before.heapUsed) / count,
  }),
);
