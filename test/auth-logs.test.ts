// Secrets hygiene in practice: the Node server at debug level serves authenticated sessions (API
// key and JWT, database store, keyed digests), refuses wrong and foreign credentials, and then
// everything it printed is searched for every credential presented and every digest of one, in
// every encoding a careless log line might use. None may appear.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { SignJWT } from 'jose';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { RawSession } from './helpers/mcp.js';

const KEY = 'log-test-key-5b2f0c9e1d7a4463';
const JWT_SECRET = 'log-test-jwt-secret-8e1f4c2a9b7d3e6f0a5c';
const AUTH_SECRET = 'log-test-digest-secret-3c9a7e1b5d';
const ISSUER = 'https://issuer.logs';
const AUDIENCE = 'https://mcp.logs/mcp';

let db: TestDatabase;
let server: RunningServer;

beforeAll(async () => {
  db = await createTestDatabase('baton_auth_logs');
  const config = [
    'toolsets: [conformance]',
    'sessions: { store: database, bind: principal }',
    `database: { driver: pg, dsn: "${db.url}" }`,
    'auth:',
    '  required: true',
    `  api_keys: ["${KEY}"]`,
    `  secret: "${AUTH_SECRET}"`,
    `  jwt: { secret: "${JWT_SECRET}", issuer: "${ISSUER}", audience: "${AUDIENCE}" }`,
  ].join('\n');
  server = await startServer({ BATON_CONFIG_YAML: config, LOG_LEVEL: 'debug' });
});

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

function jwt(subject: string, expiresIn = '5m'): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(JWT_SECRET));
}

async function digests(value: string): Promise<string[]> {
  const sha = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)));
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(AUTH_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(value)));
  return [sha, mac].flatMap((bytes) => {
    const hex = Buffer.from(bytes).toString('hex');
    return [hex, hex.toUpperCase(), Buffer.from(bytes).toString('base64'), Buffer.from(bytes).toString('base64url')];
  });
}

describe('logs of authenticated sessions', () => {
  it('contain no token, key or digest of one', async () => {
    const fetcher = (r: Request) => fetch(r);
    const alice = await jwt('alice');
    const bob = await jwt('bob');
    const expired = await jwt('alice', '-1m');
    const wrongKey = `${KEY}-wrong`;

    const keyed = new RawSession(fetcher, server.url, { 'x-api-key': KEY });
    expect((await keyed.initialize()).status).toBe(200);
    await keyed.notify('notifications/initialized');
    expect((await keyed.callTool('test_simple_text')).status).toBe(200);
    expect((await keyed.request('logging/setLevel', { level: 'debug' })).status).toBe(200);

    const jwtSession = new RawSession(fetcher, server.url, { authorization: `Bearer ${alice}` });
    expect((await jwtSession.initialize()).status).toBe(200);
    expect((await jwtSession.callTool('test_simple_text')).status).toBe(200);
    // Exercises the error path of a tool (logged at debug by the server).
    expect((await jwtSession.callTool('test_error_handling')).status).toBe(200);

    for (const [headers, status] of [
      [{ authorization: `Bearer ${bob}` }, 403],
      [{ authorization: `Bearer ${expired}` }, 401],
      [{ authorization: `Bearer ${wrongKey}` }, 401],
      [{ 'x-api-key': wrongKey }, 401],
      [{ authorization: `Basic ${btoa(`u:${KEY}`)}` }, 401],
      [{}, 401],
    ] as [Record<string, string>, number][]) {
      const intruder = new RawSession(fetcher, server.url, headers);
      intruder.id = jwtSession.id;
      expect((await intruder.request('tools/list')).status).toBe(status);
    }
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const stored = (await client.query('select credential_hash from baton.sessions')).rows.map((r) => r.credential_hash as string);
    await client.end();
    expect(stored).toHaveLength(2);

    expect((await keyed.delete()).status).toBe(200);
    expect((await jwtSession.delete()).status).toBe(200);

    await server.stop();
    const logs = server.logs.join('');
    // The logs are there (debug level, refusals included): an empty log would prove nothing.
    expect(logs).toContain('"msg":"session created"');
    expect(logs).toContain('"msg":"authentication failed"');
    expect(logs).toContain('"msg":"session deleted"');

    const secrets = [KEY, wrongKey, alice, bob, expired, JWT_SECRET, AUTH_SECRET, btoa(`u:${KEY}`)];
    // A JWT's signature is what makes it a credential; header and payload are public claims.
    secrets.push(...[alice, bob, expired].map((t) => t.split('.')[2]!));
    const principal = `principal:${JSON.stringify([ISSUER, 'alice'])}`;
    const hashed = [...(await Promise.all([KEY, wrongKey, alice, bob, expired, principal].map(digests))).flat(), ...stored];
    for (const secret of [...secrets, ...hashed]) {
      expect(secret.length).toBeGreaterThan(16);
      if (logs.includes(secret)) throw new Error(`the logs contain a secret or a digest of one: ${secret.slice(0, 6)}...`);
    }
  });
});
