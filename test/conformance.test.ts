// The official MCP conformance suite (active scenarios) against the platform, on both stores.
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

it('passes every check of the active conformance suite on the memory store', async () => {
  const result = await runConformance({ SESSIONS_STORE: 'memory' });
  expect(result.failures).toEqual([]);
  expect(result.passed).toBeGreaterThanOrEqual(40);
  expect(result.exitCode).toBe(0);
}, 180_000);

it('passes every check of the active conformance suite on the database store (pg)', async () => {
  const result = await runConformance({ SESSIONS_STORE: 'database', DATABASE_URL: db.url });
  expect(result.failures).toEqual([]);
  expect(result.passed).toBeGreaterThanOrEqual(40);
  expect(result.exitCode).toBe(0);
}, 180_000);
