// Run with --expose-gc: resident memory the memory store needs per idle session, or with
// `pool` as the first argument, what the pool of idle restored servers holds when full.
import { MemorySessionStore } from '../src/store/memory-store.js';
import { newSessionId } from '../src/era-2025/ids.js';
import { DEFAULT_POOL_LIMITS, ServerPool, connectServer } from '../src/era-2025/server-pool.js';
import { Registry } from '../src/core/registry.js';
import { ExchangeRouter } from '../src/era-2025/exchange-router.js';
import { createLogger } from '../src/log.js';
import { InProcessChannel } from '../src/store/channel/in-process.js';
import { conformanceToolset } from '../src/tools/conformance.js';

const pool = process.argv[2] === 'pool';
const count = pool ? DEFAULT_POOL_LIMITS.total : Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const settle = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage();
};

if (pool) {
  const registry = new Registry([conformanceToolset]);
  const servers = new ServerPool();
  const router = new ExchangeRouter('bench-instance', new InProcessChannel(60_000), createLogger('error'));
  const before = settle();
  for (let i = 0; i < count; i++) {
    const id = newSessionId();
    const entry = await connectServer(registry, id, router);
    await entry.transport.restore({
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: { elicitation: { form: {} }, sampling: {}, roots: { listChanged: true } },
        clientInfo: { name: 'claude-code', version: '2.1.0' },
      },
    });
    servers.give(id, entry);
  }
  const after = settle();
  console.log(
    JSON.stringify({
      servers: servers.size,
      rssBytesPerServer: (after.rss - before.rss) / count,
      heapBytesPerServer: (after.heapUsed - before.heapUsed) / count,
    }),
  );
  process.exit(0);
}

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
