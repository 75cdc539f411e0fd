// JWT bearer tokens (`auth.jwt`), verified with jose: keys from a JWKS URL, static public keys
// (PEM SPKI or JWK JSON) or an HMAC secret; issuer, audience, expiry and not-before checked with
// the configured clock skew; only allow-listed algorithms. jose runs on WebCrypto, so this works
// on Workers as on Node.
import { configProblem } from '../config/errors.js';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  exportJWK,
  importSPKI,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import type { Config } from '../config/schema.js';

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Algorithms a PEM key is tried under when imported: one per key type and curve. */
const PEM_IMPORT_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512', 'Ed25519'];
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export type JwtSettings = Config['auth']['jwt'];

export type JwtOutcome =
  | { ok: true; claims: JWTPayload }
  /** `unavailable`: the key source (JWKS URL) could not be read; not the token's fault. */
  | { ok: false; reason: string; unavailable: boolean };

/** The JWKS endpoint failed (unreachable, timeout, not a key set): try again later. */
class KeySourceUnavailable extends Error {}

export interface JwtVerifier {
  verify(token: string): Promise<JwtOutcome>;
}

/** True when `auth.jwt` configures any way to verify tokens. */
export function jwtConfigured(settings: JwtSettings): boolean {
  return settings.jwks_url !== '' || settings.public_keys.length > 0 || settings.secret !== '';
}

/**
 * Builds the verifier, importing static keys once. Configuration problems are thrown with the key
 * path; things worth an operator's attention are returned as warnings.
 */
export async function createJwtVerifier(
  settings: JwtSettings,
  defaultAudience: string,
): Promise<{ verifier: JwtVerifier; warnings: string[] }> {
  const warnings: string[] = [];
  const algorithms = allowedAlgorithms(settings);
  const secret = settings.secret ? new TextEncoder().encode(settings.secret) : undefined;
  if (secret && secret.length < 32) warnings.push('auth.jwt.secret: shorter than 32 bytes; HMAC secrets should be long random strings');

  const jwks = await staticKeys(settings.public_keys);
  const local = jwks.length > 0 ? createLocalJWKSet({ keys: jwks }) : undefined;
  let remote: JWTVerifyGetKey | undefined;
  if (settings.jwks_url) {
    let url: URL;
    try {
      url = new URL(settings.jwks_url);
    } catch {
      throw configProblem('auth.jwt.jwks_url: expected an http(s) URL of a JSON Web Key Set');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw configProblem('auth.jwt.jwks_url: expected an http(s) URL of a JSON Web Key Set');
    if (url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
      warnings.push('auth.jwt.jwks_url: plain http; keys fetched without TLS can be replaced on the way');
    }
    remote = createRemoteJWKSet(url, { timeoutDuration: 5_000, cooldownDuration: 30_000 });
  }

  const audience = settings.audience || defaultAudience;
  if (!audience) warnings.push('auth.jwt.audience: not set (nor auth.resource_url); tokens issued for any audience are accepted');
  if (!settings.issuer) warnings.push('auth.jwt.issuer: not set; tokens from any issuer the keys trust are accepted');

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const alg = header.alg ?? '';
    if (HMAC_ALGORITHMS.includes(alg)) {
      if (secret) return secret;
      throw new errors.JWKSNoMatchingKey();
    }
    if (local) {
      try {
        return await local(header, token);
      } catch (error) {
        if (!(remote && error instanceof errors.JWKSNoMatchingKey)) throw error;
      }
    }
    if (remote) {
      try {
        return await remote(header, token);
      } catch (error) {
        if (
          error instanceof errors.JWKSNoMatchingKey ||
          error instanceof errors.JWKSMultipleMatchingKeys ||
          error instanceof errors.JOSENotSupported
        )
          throw error;
        throw new KeySourceUnavailable('the JWKS endpoint could not be read', { cause: error });
      }
    }
    throw new errors.JWKSNoMatchingKey();
  };

  const options: JWTVerifyOptions = {
    algorithms,
    clockTolerance: settings.clock_skew / 1000,
    requiredClaims: ['exp'],
    ...(settings.issuer && { issuer: settings.issuer }),
    ...(audience && { audience }),
  };

  return {
    warnings,
    verifier: {
      async verify(token) {
        if (!COMPACT_JWS.test(token)) return { ok: false, reason: 'malformed token', unavailable: false };
        try {
          return { ok: true, claims: await verifyWithAnyKey(token, getKey, options) };
        } catch (error) {
          if (error instanceof KeySourceUnavailable) return { ok: false, reason: 'token keys unavailable', unavailable: true };
          return { ok: false, reason: reasonOf(error), unavailable: false };
        }
      },
    },
  };
}

/** A key set may hold several keys that fit a token (no `kid`); jose leaves trying them to us. */
async function verifyWithAnyKey(token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, getKey, options)).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let last: unknown = error;
    for await (const key of error) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (attempt) {
        if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) throw attempt;
        last = attempt;
      }
    }
    throw last;
  }
}

function allowedAlgorithms(settings: JwtSettings): string[] {
  const known = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS];
  settings.algorithms.forEach((alg, index) => {
    if (!known.includes(alg))
      throw configProblem(`auth.jwt.algorithms[${index}]: unknown or unsafe algorithm "${alg}" (known: ${known.join(', ')})`);
  });
  if (settings.algorithms.length > 0) return settings.algorithms;
  // By default, only what the configured keys can verify: an HMAC secret never stands in for a
  // public key, and the reverse cannot happen either.
  return [
    ...(settings.secret ? HMAC_ALGORITHMS : []),
    ...(settings.jwks_url || settings.public_keys.length > 0 ? ASYMMETRIC_ALGORITHMS : []),
  ];
}

/** Reads `auth.jwt.public_keys`; a bad entry is a configuration error naming it. */
async function staticKeys(entries: string[]): Promise<JWK[]> {
  const keys: JWK[] = [];
  for (const [index, entry] of entries.entries()) {
    const at = `auth.jwt.public_keys[${index}]`;
    const text = entry.trim();
    if (text.startsWith('-----BEGIN')) {
      if (!text.startsWith('-----BEGIN PUBLIC KEY-----')) {
        throw configProblem(
          `${at}: expected a PEM public key ("-----BEGIN PUBLIC KEY-----", SPKI); private keys and certificates are not accepted`,
        );
      }
      keys.push(await pemToJwk(text, at));
    } else if (text.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw configProblem(`${at}: not valid JSON (expected a JWK or a JWK set)`);
      }
      const list = isRecord(parsed) && Array.isArray(parsed.keys) ? (parsed.keys as unknown[]) : [parsed];
      for (const jwk of list) keys.push(checkJwk(jwk, at));
    } else {
      throw configProblem(`${at}: expected a PEM public key or a JWK as JSON`);
    }
  }
  return keys;
}

async function pemToJwk(pem: string, at: string): Promise<JWK> {
  for (const alg of PEM_IMPORT_ALGORITHMS) {
    try {
      const key = await importSPKI(pem, alg, { extractable: true });
      // Without `alg`, the key serves every algorithm of its type that is allowed.
      const { alg: _alg, ...jwk } = await exportJWK(key);
      return jwk;
    } catch {
      // Not this key type; try the next.
    }
  }
  throw configProblem(`${at}: could not read the PEM public key (RSA, EC P-256/384/521 and Ed25519 are supported)`);
}

function checkJwk(jwk: unknown, at: string): JWK {
  if (!isRecord(jwk) || typeof jwk.kty !== 'string') throw configProblem(`${at}: a JWK needs a "kty" member`);
  if (jwk.kty === 'oct') throw configProblem(`${at}: symmetric keys belong in auth.jwt.secret, not among public keys`);
  if ('d' in jwk) throw configProblem(`${at}: this is a private key; give only its public part`);
  return jwk as JWK;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, fixed description of why a token was refused; never any part of the token. */
function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return 'token not yet valid';
      case 'iat':
        return 'token issued in the future';
      case 'aud':
        return 'token audience mismatch';
      case 'iss':
        return 'token issuer mismatch';
      default:
        // Claim names are jose's (fixed), never token content; no quotes, they end up in a header.
        return error.reason === 'missing' ? `token lacks the ${error.claim} claim` : `token claim ${error.claim} is invalid`;
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature verification failed';
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return 'token algorithm not allowed';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key matches the token';
  return 'malformed token';
}
