// The official MCP conformance suite against the platform: the frozen requirement sets of both
// protocol revisions (every scenario but protocol extensions, pending ones included) and the
// whole 0.1.16 suite (`--suite all`), on both stores, with no failure and no warning; and the 2026-07-28 set through two database-store
// instances behind a round-robin proxy with no secret configured, so that requestState minted on
// one instance is redeemed on the other. The tasks extension's scenarios (the pending suite's
// `tasks-*`) on the memory store, the database store, and through the two instances. The database store runs directly on Postgres and through
// PgBouncer in transaction mode (the requirement sets there).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeSet,
  REVISIONS,
  runActiveSuite,
  runRequirementSet,
  runTaskScenarios,
  startConformanceServer,
} from '../scripts/conformance.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startRoundRobinProxy } from './helpers/proxy.js';
import type { RunningServer } from './helpers/server.js';
import { startPgBouncer, type PgBouncer } from './helpers/pgbouncer.js';

let db: TestDatabase;
let shared: TestDatabase;
let pooled: TestDatabase;
let bouncer: PgBouncer;
beforeAll(async () => {
  [db, shared, pooled] = await Promise.all([
    createTestDatabase('baton_conformance'),
    createTestDatabase('baton_conformance_lb'),
    createTestDatabase('baton_conformance_pooled'),
  ]);
  bouncer = await startPgBouncer();
});
afterAll(async () => {
  await bouncer?.close();
  await Promise.all([db?.drop(), shared?.drop(), pooled?.drop()]);
});

const stores = [
  { name: 'memory', env: () => ({ SESSIONS_STORE: 'memory' }), activeSuite: true, tasks: true },
  { name: 'database (pg)', env: () => ({ SESSIONS_STORE: 'database', DATABASE_URL: db.url }), activeSuite: true, tasks: true },
  {
    name: 'database (pg through PgBouncer, transaction mode)',
    env: () => ({ SESSIONS_STORE: 'database', DATABASE_URL: bouncer.rewrite(pooled.url) }),
    activeSuite: false,
    tasks: false,
  },
];

describe.each(stores)('conformance on the $name store', ({ env, activeSuite, tasks }) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startConformanceServer(env());
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each(REVISIONS)(
    'passes every required and pending scenario of the %s requirement set',
    async (revision) => {
      const result = await runRequirementSet(server.url, revision);
      console.log(describeSet(result));
      expect(result.failures).toEqual([]);
      expect(result.failing).toEqual([]);
      // Every scenario the set names ran (none was skipped for want of a fixture).
      expect(result.required.every((name) => result.scenarios.has(name))).toBe(true);
      expect(result.required.length).toBeGreaterThanOrEqual(revision === '2026-07-28' ? 40 : 33);
      // No warning either (server-sse-polling: priming event, retry field, a stream resumed).
      expect([...result.scenarios].filter(([name, outcome]) => result.required.includes(name) && outcome.warnings > 0)).toEqual([]);
    },
    180_000,
  );

  // The tasks extension (SEP-2663): every `tasks-*` scenario of the pending suite, no failing check.
  if (tasks) {
    it('passes every tasks scenario of the pending suite (the tasks extension)', async () => {
      const runs = await runTaskScenarios(server.url);
      console.log(`tasks: ${runs.map((run) => `${run.scenario} ${run.passed}/${run.passed + run.failed}`).join(', ')}`);
      expect(runs.flatMap((run) => run.failures)).toEqual([]);
      expect(runs.map((run) => run.scenario)).toContain('tasks-lifecycle');
      expect(runs.length).toBeGreaterThanOrEqual(10);
      expect(runs.reduce((sum, run) => sum + run.passed, 0)).toBeGreaterThanOrEqual(44);
    }, 180_000);
  }

  // The whole active suite once per store kind; through the pooler, the requirement sets above.
  if (activeSuite) {
    it('passes every check of the whole 0.1.16 suite, with no warning', async () => {
      const result = await runActiveSuite(server.url, ['--suite', 'all']);
      expect(result.failures).toEqual([]);
      expect(result.warnings).toBe(0);
      expect(result.passed).toBeGreaterThanOrEqual(47);
      expect(result.exitCode).toBe(0);
    }, 180_000);
  }
});

it('passes the 2026-07-28 set through two database-store instances behind a round-robin proxy, no secret configured', async () => {
  const env = { SESSIONS_STORE: 'database', DATABASE_URL: shared.url, BATON_REQUEST_STATE_SECRET: '' };
  const [a, b] = await Promise.all([startConformanceServer(env), startConformanceServer(env)]);
  const proxy = await startRoundRobinProxy([`http://127.0.0.1:${a.port}`, `http://127.0.0.1:${b.port}`]);
  try {
    const result = await runRequirementSet(`${proxy.url}/mcp`, '2026-07-28');
    console.log(`two instances: ${describeSet(result)}`);
    expect(result.failures).toEqual([]);
    expect(result.failing).toEqual([]);
    // subscriptions/listen on one instance hears a change announced on the other.
    expect([...result.scenarios].filter(([, outcome]) => outcome.warnings > 0).map(([name]) => name)).toEqual([]);
    // The tasks extension's scenarios ran too (extensions of the set): tasks created on one
    // instance were polled, answered and cancelled through the other, with no failing check.
    const tasks = [...result.scenarios].filter(([name]) => name.startsWith('tasks-'));
    expect(tasks.length).toBeGreaterThanOrEqual(10);
    expect(tasks.filter(([, outcome]) => outcome.failed > 0)).toEqual([]);
    // Both instances served: multi-round scenarios crossed from one to the other.
    expect(proxy.served.filter((index) => index === 0).length).toBeGreaterThan(10);
    expect(proxy.served.filter((index) => index === 1).length).toBeGreaterThan(10);
  } finally {
    await proxy.close();
    await Promise.all([a.stop(), b.stop()]);
  }
}, 240_000);
