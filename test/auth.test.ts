// Authentication and session binding through the real HTTP app (in process): API keys, JWTs from
// static keys, an HMAC secret and a JWKS served by a local HTTP server, the 401 answers and the
// protected resource metadata, and the binding of sessions to credentials on both store kinds.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, type Server } from 'node:http';
import { z } from 'zod';
import pg from 'pg';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { parseConfig } from '../src/config/index.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createLogger } from '../src/log.js';
import { createApp } from '../src/platform/app.js';
import { createAuthenticator } from '../src/auth/authenticate.js';
import { Instance } from '../src/era-2025/instance.js';
import { createSessionHandler } from '../src/era-2025/handler.js';
import { MemorySessionStore } from '../src/store/memory-store.js';
import { Registry } from '../src/core/registry.js';
import { LOCALHOST_POLICY } from '../src/http/origin-guard.js';
import { Readiness } from '../src/lifecycle/readiness.js';
import { defineTool, defineToolset, text } from '../src/core/define.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession } from './helpers/mcp.js';

const quiet = createLogger('error');
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'https://mcp.test/mcp';
const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const HMAC_SECRET = 'hmac-secret-0123456789abcdef-0123456789';

let rsa: { publicKey: CryptoKey; privateKey: CryptoKey };
let otherRsa: { publicKey: CryptoKey; privateKey: CryptoKey };
let ec: { publicKey: CryptoKey; privateKey: CryptoKey };
let rsaPem: string;
let ecJwk: JWK;
let db: TestDatabase;
let jwks: { url: string; hits: number; up: boolean; close(): Promise<void> };

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  otherRsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  rsaPem = await exportSPKI(rsa.publicKey);
  ecJwk = await exportJWK(ec.publicKey);
  db = await createTestDatabase('baton_auth');
  jwks = await startJwksServer([{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }]);
});

afterAll(async () => {
  await jwks?.close();
  await db?.drop();
});

/** A JWKS document on loopback that can be taken down (answers 503) and counts its readers. */
async function startJwksServer(keys: JWK[]) {
  const state = { hits: 0, up: true };
  const server: Server = createServer((_req, res) => {
    state.hits++;
    if (!state.up) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    get hits() {
      return state.hits;
    },
    get up() {
      return state.up;
    },
    set up(value: boolean) {
      state.up = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface TokenOptions {
  key?: CryptoKey | Uint8Array;
  alg?: string;
  kid?: string;
  claims?: JWTPayload;
  /** Seconds relative to now; null leaves the claim out. */
  exp?: number | null;
  nbf?: number;
  issuer?: string;
  audience?: string;
  subject?: string;
}

async function token(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ scope: 'mcp', ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? 'RS256', ...(options.kid && { kid: options.kid }) })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject(options.subject ?? 'alice')
    .setIssuedAt(now - 5)
    .setJti(crypto.randomUUID());
  if (options.exp !== null) jwt.setExpirationTime(now + (options.exp ?? 300));
  if (options.nbf !== undefined) jwt.setNotBefore(now + options.nbf);
  return jwt.sign(options.key ?? rsa.privateKey);
}

const jwtAuth = (extra: Record<string, unknown> = {}) => ({
  required: true,
  jwt: { public_keys: [rsaPem], issuer: ISSUER, audience: AUDIENCE, ...extra },
  authorization_servers: [ISSUER],
});

async function platform(settings: Record<string, unknown>, store: 'memory' | 'database' = 'memory'): Promise<Platform> {
  const config = parseConfig(
    {
      toolsets: ['conformance'],
      ...settings,
      ...(store === 'database' && {
        sessions: { store: 'database', ...(settings.sessions as object) },
        database: { driver: 'pg', dsn: db.url },
      }),
    },
    {},
  );
  return createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
}

function session(p: Platform, headers: Record<string, string> = {}): RawSession {
  return new RawSession((request) => p.app.fetch(request), 'http://127.0.0.1/mcp', headers);
}

const bearer = (value: string) => ({ authorization: `Bearer ${value}` });

async function expect401(response: Response, challenge: RegExp) {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toMatch(challenge);
  const body = await response.json();
  expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
  expect(body.error.message).toMatch(/^Unauthorized/);
  return body;
}

describe('API keys', () => {
  let p: Platform;
  beforeAll(async () => {
    const digest = await sha256Hex(KEY_B);
    p = await platform({ auth: { required: true, api_keys: [KEY_A, `sha256:${digest.toUpperCase()}`] } });
  });
  afterAll(() => p?.close());

  it('accepts a listed key as a bearer token and as X-API-Key, and a key given by its digest', async () => {
    for (const headers of [bearer(KEY_A), { 'x-api-key': KEY_A }, bearer(KEY_B), { 'x-api-key': KEY_B }]) {
      const s = session(p, headers);
      expect((await s.initialize()).status).toBe(200);
      expect((await s.callTool('test_simple_text')).status).toBe(200);
    }
  });

  it('answers 401 with a Bearer challenge and a JSON-RPC body: missing, unknown, other scheme', async () => {
    await expect401(await session(p).initialize(), /^Bearer$/);
    await expect401(
      await session(p, bearer('not-a-key')).initialize(),
      /^Bearer error="invalid_token", error_description="unknown API key or token"$/,
    );
    await expect401(await session(p, { 'x-api-key': `${KEY_A}x` }).initialize(), /error="invalid_token"/);
    await expect401(await session(p, { authorization: `Basic ${btoa(`user:${KEY_A}`)}` }).initialize(), /error="invalid_request"/);
    // No resource metadata outside JWT mode.
    expect(await p.app.fetch(new Request('http://127.0.0.1/.well-known/oauth-protected-resource'))).toHaveProperty('status', 404);
  });

  it('never lets a wrong credential pass as anonymous where anonymous access is allowed', async () => {
    const open = await platform({ auth: { required: false, api_keys: [KEY_A] } });
    try {
      expect((await session(open).initialize()).status).toBe(200);
      await expect401(await session(open, bearer('typo')).initialize(), /invalid_token/);
      expect((await session(open, bearer(KEY_A)).initialize()).status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('refuses configurations it cannot honour, naming the key', async () => {
    await expect(platform({ auth: { api_keys: ['sha256:abc'] } })).rejects.toThrow(/auth\.api_keys\[0\].*64 hexadecimal/);
    await expect(platform({ auth: { required: true } })).rejects.toThrow(/auth\.required: true needs/);
    await expect(
      platform({ auth: { jwt: { public_keys: ['-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----'] } } }),
    ).rejects.toThrow(/auth\.jwt\.public_keys\[0\]/);
    await expect(platform({ auth: { jwt: { public_keys: [JSON.stringify({ ...ecJwk, d: 'secret' })] } } })).rejects.toThrow(
      /public_keys\[0\]: this is a private key/,
    );
    await expect(platform({ auth: { jwt: { secret: HMAC_SECRET, algorithms: ['none'] } } })).rejects.toThrow(/auth\.jwt\.algorithms\[0\]/);
    await expect(platform({ auth: { resource_url: 'mcp.example.com' } })).rejects.toThrow(/auth\.resource_url/);
  });
});

describe('JWT bearer tokens', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await platform({ auth: jwtAuth({ public_keys: [rsaPem, JSON.stringify(ecJwk)], secret: HMAC_SECRET }) });
  });
  afterAll(() => p?.close());

  it('accepts tokens signed by a PEM key, a JWK and the HMAC secret', async () => {
    for (const t of [
      await token(),
      await token({ key: ec.privateKey, alg: 'ES256' }),
      await token({ key: new TextEncoder().encode(HMAC_SECRET), alg: 'HS256' }),
    ]) {
      const s = session(p, bearer(t));
      expect((await s.initialize()).status).toBe(200);
      expect((await s.callTool('test_simple_text')).status).toBe(200);
    }
  });

  it('refuses bad signature, wrong audience, wrong issuer, expired, not yet valid, no exp, wrong algorithm', async () => {
    const metadata = 'resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"';
    const cases: [string, string][] = [
      [await token({ key: otherRsa.privateKey }), 'token signature verification failed'],
      [await token({ audience: 'https://other.test/mcp' }), 'token audience mismatch'],
      [await token({ issuer: 'https://evil.test' }), 'token issuer mismatch'],
      [await token({ exp: -120 }), 'token expired'],
      [await token({ nbf: 120 }), 'token not yet valid'],
      [await token({ exp: null }), 'token lacks the exp claim'],
      // The classic confusion: HS256 keyed with the public key's text.
      [await token({ key: new TextEncoder().encode(rsaPem), alg: 'HS256' }), 'token signature verification failed'],
      ['abc.def.ghi', 'malformed token'],
      ['not-a-jwt', 'malformed token'],
    ];
    for (const [t, reason] of cases) {
      const body = await expect401(
        await session(p, bearer(t)).initialize(),
        new RegExp(`^Bearer error="invalid_token", error_description="${reason}", ${metadata}$`),
      );
      expect(body.error.message).toBe(`Unauthorized: ${reason}`);
    }
    const missing = await session(p).initialize();
    await expect401(missing, new RegExp(`^Bearer ${metadata}$`));
  });

  it('checks expiry and not-before with the configured clock skew', async () => {
    const lenient = await platform({ auth: jwtAuth({ clock_skew: '60s' }) });
    const strict = await platform({ auth: jwtAuth({ clock_skew: 0 }) });
    try {
      const late = await token({ exp: -20 });
      const early = await token({ nbf: 20 });
      expect((await session(lenient, bearer(late)).initialize()).status).toBe(200);
      expect((await session(lenient, bearer(early)).initialize()).status).toBe(200);
      await expect401(await session(strict, bearer(late)).initialize(), /token expired/);
      await expect401(await session(strict, bearer(early)).initialize(), /not yet valid/);
    } finally {
      await Promise.all([lenient.close(), strict.close()]);
    }
  });

  it('keeps to the algorithm allow-list', async () => {
    const rsOnly = await platform({ auth: jwtAuth({ public_keys: [rsaPem], secret: HMAC_SECRET, algorithms: ['RS256'] }) });
    try {
      expect((await session(rsOnly, bearer(await token())).initialize()).status).toBe(200);
      const hs = await token({ key: new TextEncoder().encode(HMAC_SECRET), alg: 'HS256' });
      await expect401(await session(rsOnly, bearer(hs)).initialize(), /token algorithm not allowed/);
    } finally {
      await rsOnly.close();
    }
  });

  it('serves protected resource metadata at the root and path-suffixed well-known URLs', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await p.app.fetch(new Request(`http://127.0.0.1${path}`));
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(await response.json()).toEqual({
        resource: 'http://127.0.0.1/mcp',
        authorization_servers: [ISSUER],
        bearer_methods_supported: ['header'],
        resource_name: 'mcp-baton',
      });
    }
    expect((await p.app.fetch(new Request('http://127.0.0.1/.well-known/oauth-protected-resource/other'))).status).toBe(404);

    const configured = await platform({
      auth: { ...jwtAuth(), resource_url: 'https://mcp.example.com/tenant/mcp', authorization_servers: [] },
    });
    try {
      const response = await configured.app.fetch(new Request('http://127.0.0.1/.well-known/oauth-protected-resource/tenant/mcp'));
      // No authorization servers configured: the issuer is the one.
      expect(await response.json()).toMatchObject({ resource: 'https://mcp.example.com/tenant/mcp', authorization_servers: [ISSUER] });
      const refused = await session(configured).initialize();
      expect(refused.headers.get('www-authenticate')).toBe(
        'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/tenant/mcp"',
      );
    } finally {
      await configured.close();
    }
  });

  it('takes keys from a JWKS URL (a local server), and answers 503 while it is down', async () => {
    const remote = await platform({ auth: { required: true, jwt: { jwks_url: jwks.url, issuer: ISSUER, audience: AUDIENCE } } });
    try {
      const s = session(remote, bearer(await token({ kid: 'rsa-1' })));
      expect((await s.initialize()).status).toBe(200);
      expect((await s.callTool('test_simple_text')).status).toBe(200);
      expect(jwks.hits).toBe(1); // cached after the first read
      await expect401(
        await session(remote, bearer(await token({ key: otherRsa.privateKey, kid: 'rsa-1' }))).initialize(),
        /signature verification failed/,
      );

      // A new instance has to read the set first; with the key server down, that is the
      // server's problem, not the token's: 503, retry later (not 401, which sends the client
      // back to its authorization server for nothing).
      const fresh = await platform({ auth: { required: true, jwt: { jwks_url: jwks.url, issuer: ISSUER, audience: AUDIENCE } } });
      jwks.up = false;
      try {
        const response = await session(fresh, bearer(await token({ kid: 'rsa-1' }))).initialize();
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toBe('1');
        expect((await response.json()).error.code).toBe(-32000);
      } finally {
        jwks.up = true;
        await fresh.close();
      }
    } finally {
      await remote.close();
    }
  });

  it('hands the principal to tools', async () => {
    const seen: unknown[] = [];
    const whoami = defineToolset({
      name: 'whoami',
      description: 'test',
      tools: [
        defineTool({
          name: 'whoami',
          description: 'Returns the caller',
          input: { note: z.string().optional() },
          handler: (_args, ctx) => {
            seen.push(ctx.principal);
            return text(ctx.principal?.id ?? 'anonymous');
          },
        }),
      ],
    });
    const config = parseConfig({ auth: { api_keys: [KEY_A], jwt: { public_keys: [rsaPem], issuer: ISSUER, audience: AUDIENCE } } }, {});
    const store = new MemorySessionStore({ ttlMs: 60_000, idleTimeoutMs: 60_000 });
    const sessions = createSessionHandler({
      store,
      instance: new Instance({ store, registry: new Registry([whoami]), logger: quiet }),
      maxBodyBytes: 1 << 20,
      logger: quiet,
    });
    const app = createApp({
      mcp: (request, caller) => sessions(request, caller),
      auth: await createAuthenticator({ auth: config.auth, bind: 'token', logger: quiet }),
      originPolicy: LOCALHOST_POLICY,
      readiness: new Readiness(),
      logger: quiet,
    });
    const call = async (headers: Record<string, string>) => {
      const s = new RawSession((r) => app.fetch(r), 'http://127.0.0.1/mcp', headers);
      await s.initialize();
      return (await s.callTool('whoami')).result.content[0].text;
    };
    expect(await call(bearer(await token({ subject: 'bob' })))).toBe(`${ISSUER}#bob`);
    expect(await call({ 'x-api-key': KEY_A })).toBe('api_keys[0]');
    expect(await call({})).toBe('anonymous');
    expect(seen[0]).toMatchObject({ method: 'jwt', id: `${ISSUER}#bob`, claims: { sub: 'bob', iss: ISSUER, scope: 'mcp' } });
    expect(seen[1]).toEqual({ method: 'api_key', id: 'api_keys[0]' });
    expect(seen[2]).toBeUndefined();
  });
});

const stores = [{ store: 'memory' as const }, { store: 'database' as const }];

describe.each(stores)('session binding, $store store', ({ store }) => {
  let p: Platform;
  let principal: Platform;

  beforeAll(async () => {
    p = await platform({ auth: { api_keys: [KEY_A, KEY_B], jwt: { public_keys: [rsaPem], issuer: ISSUER, audience: AUDIENCE } } }, store);
    principal = await platform(
      { auth: { jwt: { public_keys: [rsaPem], issuer: ISSUER, audience: AUDIENCE } }, sessions: { bind: 'principal' } },
      store,
    );
  });
  afterAll(async () => {
    await p?.close();
    await principal?.close();
  });

  /** The stored session, read without touching it. */
  async function stored(platform: Platform, id: string): Promise<{ lastActiveAt: number; state: unknown; credentialHash: string }> {
    if (store === 'database') {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query('select last_active_at, state, credential_hash from baton.sessions where id = $1', [id]);
        return { lastActiveAt: rows[0].last_active_at.getTime(), state: rows[0].state, credentialHash: rows[0].credential_hash };
      } finally {
        await client.end();
      }
    }
    const record = (platform.store as MemorySessionStore).peek(id)!;
    return { lastActiveAt: record.lastActiveAt.getTime(), state: record.state, credentialHash: record.credentialHash };
  }

  /**
   * Makes the session's last activity old enough that any touch would change it: the database
   * store writes a touch only when the stored one is older than its granularity (1 s), so the row
   * is set a minute back; the memory store touches on every use, so the clock only has to move on.
   */
  async function age(platform: Platform, id: string): Promise<void> {
    if (store === 'database') {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query("update baton.sessions set last_active_at = last_active_at - interval '1 minute' where id = $1", [id]);
      } finally {
        await client.end();
      }
      return;
    }
    const touched = (await stored(platform, id)).lastActiveAt;
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(touched), { interval: 1 });
  }

  it('answers 403 to a foreign credential and leaves the session exactly as it was', async () => {
    const owner = session(p, bearer(KEY_A));
    expect((await owner.initialize()).status).toBe(200);
    await owner.request('logging/setLevel', { level: 'warning' });
    await age(p, owner.id);
    const before = await stored(p, owner.id);
    expect(before.credentialHash).toBe(await sha256Hex(KEY_A));
    expect(before.state).toMatchObject({ 'mcp.logging_level': 'warning' });

    const others: Record<string, string>[] = [bearer(KEY_B), { 'x-api-key': KEY_B }, bearer(await token()), {}];
    for (const headers of others) {
      const thief = session(p, headers);
      thief.id = owner.id;
      const listed = await thief.request('tools/list');
      expect(listed.status).toBe(403);
      expect(listed.messages[0]).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
      expect((await thief.request('logging/setLevel', { level: 'debug' })).status).toBe(403);
      expect((await thief.delete()).status).toBe(403);
    }
    expect(await stored(p, owner.id)).toEqual(before);

    // The owner's key, by either header, still works.
    expect((await owner.callTool('test_simple_text')).status).toBe(200);
    const sameKeyOtherHeader = session(p, { 'x-api-key': KEY_A });
    sameKeyOtherHeader.id = owner.id;
    expect((await sameKeyOtherHeader.request('tools/list')).status).toBe(200);
  });

  it('lets anyone holding the id use an anonymous session', async () => {
    const creator = session(p);
    await creator.initialize();
    expect((await stored(p, creator.id)).credentialHash).toBe('');
    const anyone: Record<string, string>[] = [{}, bearer(KEY_A), { 'x-api-key': KEY_B }, bearer(await token({ subject: 'mallory' }))];
    for (const headers of anyone) {
      const other = session(p, headers);
      other.id = creator.id;
      expect((await other.callTool('test_simple_text')).status).toBe(200);
    }
  });

  it('binds to the token by default: a refreshed JWT is another credential', async () => {
    const owner = session(p, bearer(await token({ subject: 'alice' })));
    await owner.initialize();
    const refreshed = session(p, bearer(await token({ subject: 'alice' })));
    refreshed.id = owner.id;
    expect((await refreshed.request('tools/list')).status).toBe(403);
  });

  it('binds to issuer and subject with sessions.bind: principal', async () => {
    const owner = session(principal, bearer(await token({ subject: 'alice' })));
    await owner.initialize();
    await owner.request('logging/setLevel', { level: 'error' });
    await age(principal, owner.id);
    const before = await stored(principal, owner.id);

    const other = session(principal, bearer(await token({ subject: 'bob' })));
    other.id = owner.id;
    expect((await other.request('tools/list')).status).toBe(403);
    expect((await other.delete()).status).toBe(403);
    expect(await stored(principal, owner.id)).toEqual(before);

    // A new access token for the same subject (new jti, new expiry) continues the session.
    const refreshed = session(principal, bearer(await token({ subject: 'alice', exp: 600 })));
    refreshed.id = owner.id;
    expect((await refreshed.callTool('test_simple_text')).status).toBe(200);
    expect((await refreshed.delete()).status).toBe(200);
  });
});

describe('keyed credential digests', () => {
  it('stores HMAC-SHA-256 keyed with auth.secret instead of plain SHA-256', async () => {
    const secret = 'server-secret-for-digests-0123456789';
    const p = await platform({ auth: { api_keys: [KEY_A], secret } }, 'database');
    try {
      const s = session(p, bearer(KEY_A));
      await s.initialize();
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query('select credential_hash from baton.sessions where id = $1', [s.id]);
      await client.end();
      expect(rows[0].credential_hash).toBe(await hmacHex(secret, KEY_A));
      expect(rows[0].credential_hash).not.toBe(await sha256Hex(KEY_A));
      expect((await s.callTool('test_simple_text')).status).toBe(200);
    } finally {
      await p.close();
    }
  });
});

async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function hmacHex(secret: string, value: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(value));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
