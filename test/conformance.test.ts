// The official MCP conformance suite (every scenario, `--suite all`) against the platform, on both
// stores: no failure and no warning (server-sse-polling among them: priming event, retry field,
// and a stream closed mid-call resumed with Last-Event-ID).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runConformance } from '../scripts/conformance.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('baton_conformance');
});
afterAll(async () => {
  await db?.drop();
});

it('passes every check of the whole conformance suite on the memory store, with no warning', async () => {
  const result = await runConformance({ SESSIONS_STORE: 'memory' }, ['--suite', 'all']);
  expect(result.failures).toEqual([]);
  expect(result.warnings).toBe(0);
  expect(result.passed).toBeGreaterThanOrEqual(47);
  expect(result.exitCode).toBe(0);
}, 180_000);

it('passes every check of the whole conformance suite on the database store (pg), with no warning', async () => {
  const result = await runConformance({ SESSIONS_STORE: 'database', DATABASE_URL: db.url }, ['--suite', 'all']);
  expect(result.failures).toEqual([]);
  expect(result.warnings).toBe(0);
  expect(result.passed).toBeGreaterThanOrEqual(47);
  expect(result.exitCode).toBe(0);
}, 180_000);
