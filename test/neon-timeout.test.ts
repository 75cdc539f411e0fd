// A neon-http statement the endpoint never answers ends at the statement timeout, and the store
// says so: the database did not answer in time (503 to clients), not that it could not be reached.
// Its own file: the driver has one endpoint per process, and this one never answers.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openNeonHttp } from '../src/store/db/drivers/neon-http.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { StoreUnavailableError } from '../src/store/errors.js';

let silent: Server;
let url: string;
const held: { end(): void }[] = [];

beforeAll(async () => {
  // Reads each request and keeps it open without an answer.
  silent = createServer((request, response) => {
    request.resume();
    held.push(response);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/sql`;
});

afterAll(async () => {
  for (const response of held) response.end();
  silent.closeAllConnections();
  await new Promise((resolve) => silent.close(resolve));
});

it('ends a statement the endpoint does not answer at the statement timeout, as a database that did not answer in time', async () => {
  const database = openNeonHttp({ dsn: 'postgres://app@ep-silent-123.example.neon.tech/app', statementTimeoutMs: 200, httpEndpoint: url });
  const store = new DatabaseSessionStore(database, { ttlMs: 60_000, idleTimeoutMs: 60_000 }, { autoMigrate: false, listen: false });
  const error = await store.open('some-session', 'hash').catch((thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(StoreUnavailableError);
  expect((error as StoreUnavailableError).problem).toBe('the database did not answer in time');
  expect((error as StoreUnavailableError).passing).toBe(true);
  expect(held.length).toBe(1);
  await store.close();
});
