// Authentication in the real Workers runtime (workerd through `wrangler dev`): src/auth uses only
// WebCrypto and jose, and this is where that is proven. API keys (from BATON_API_KEYS, a key and a
// digest, the syntax of the Node side), an HMAC-signed JWT, an ES256 JWT
// verified with a static JWK, the 401 challenge, the metadata document and a 403 on a foreign key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { sha256, toHex } from '../src/auth/credential.js';
import { startWrangler, type RunningWorker } from './helpers/wrangler.js';
import { RawSession } from './helpers/mcp.js';

const KEY_A = 'worker-key-a-0123456789abcdef';
const KEY_B = 'worker-key-b-0123456789abcdef';
const SECRET = 'worker-jwt-secret-0123456789abcdef0123';
const ISSUER = 'https://issuer.worker';
const AUDIENCE = 'https://mcp.worker/mcp';

let worker: RunningWorker;
let ec: { publicKey: CryptoKey; privateKey: CryptoKey };

beforeAll(async () => {
  ec = await generateKeyPair('ES256', { extractable: true });
  const jwk = JSON.stringify(await exportJWK(ec.publicKey));
  // One line of flow-style YAML: it travels as a single `--var`.
  const yaml =
    `{toolsets: [conformance], auth: {required: true, ` +
    `jwt: {secret: "${SECRET}", public_keys: ['${jwk}'], issuer: "${ISSUER}", audience: "${AUDIENCE}"}}}`;
  // The keys as a Worker secret holds them: BATON_API_KEYS, comma-separated, each a key or the
  // sha256: digest of one, as on Node.
  const keys = `${KEY_A}, sha256:${toHex(await sha256(KEY_B))}`;
  worker = await startWrangler({ vars: { BATON_CONFIG_YAML: yaml, BATON_API_KEYS: keys } });
});

afterAll(async () => {
  await worker?.stop();
});

function token(key: CryptoKey | Uint8Array, alg: string, subject = 'alice', audience = AUDIENCE): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg })
    .setIssuer(ISSUER)
    .setAudience(audience)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

const session = (headers: Record<string, string>) => new RawSession((r) => fetch(r), worker.url, headers);

describe('authentication on Workers', () => {
  it('answers 401 with the challenge and serves the metadata document', async () => {
    const refused = await session({}).initialize();
    expect(refused.status).toBe(401);
    const base = `http://127.0.0.1:${worker.port}`;
    expect(refused.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`);
    expect((await refused.json()).error.code).toBe(-32000);

    const metadata = await fetch(`${base}/.well-known/oauth-protected-resource/mcp`);
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({
      resource: `${base}/mcp`,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
    });
  });

  it('accepts API keys, HMAC and ES256 tokens; refuses a wrong audience', async () => {
    const credentials: Record<string, string>[] = [
      { 'x-api-key': KEY_A },
      { authorization: `Bearer ${KEY_B}` },
      { authorization: `Bearer ${await token(new TextEncoder().encode(SECRET), 'HS256')}` },
      { authorization: `Bearer ${await token(ec.privateKey, 'ES256')}` },
    ];
    for (const headers of credentials) {
      const s = session(headers);
      expect((await s.initialize()).status).toBe(200);
      expect((await s.callTool('test_simple_text')).status).toBe(200);
    }
    const wrong = await session({
      authorization: `Bearer ${await token(ec.privateKey, 'ES256', 'alice', 'https://elsewhere/mcp')}`,
    }).initialize();
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('error_description="token audience mismatch"');
  });

  it('binds sessions to the credential that created them', async () => {
    const owner = session({ 'x-api-key': KEY_A });
    await owner.initialize();
    const other = session({ 'x-api-key': KEY_B });
    other.id = owner.id;
    expect((await other.request('tools/list')).status).toBe(403);
    expect((await owner.request('tools/list')).status).toBe(200);
  });
});
