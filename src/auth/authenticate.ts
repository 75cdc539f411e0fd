// Step 1 of every request: who is calling. API keys, JWT bearer tokens, or nobody (where
// `auth.required` is false). The result is what the session layer needs: the digest the session
// is bound to and the principal tools receive. A credential that is presented but does not check
// out is refused (401) even where anonymous access is allowed: a typo in a key must not silently
// turn a caller into somebody anonymous.
import { configProblem } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { JsonRpcCode, jsonRpcError, unavailable } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { Caller, Principal } from './caller.js';
import { ApiKeys } from './api-keys.js';
import { bindingHasher, presentedCredential, type PresentedCredential } from './credential.js';
import { createJwtVerifier, jwtConfigured, type JwtVerifier } from './jwt.js';
import {
  authorizationServers,
  bearerChallenge,
  checkResourceUrl,
  metadataResponse,
  metadataUrlOf,
  resourceOf,
  type Challenge,
} from './metadata.js';

export type AuthOutcome = { ok: true; caller: Caller } | { ok: false; response: Response };

/**
 * - `none`: nothing configured, anonymous only; a presented credential is not checked, only
 *   hashed, so sessions are still bound to it (a gateway in front may have checked it);
 * - `verify`: API keys and/or JWT configured; presented credentials must check out.
 */
export type AuthMode = 'none' | 'verify';

export interface Authenticator {
  readonly mode: AuthMode;
  authenticate(request: Request): Promise<AuthOutcome>;
  /** The RFC 9728 document for `/.well-known/oauth-protected-resource<suffix>`; undefined outside JWT mode. */
  metadata(request: Request, suffix: string): Response | undefined;
}

export interface AuthenticatorOptions {
  auth: Config['auth'];
  bind: Config['sessions']['bind'];
  logger: Logger;
}

const ANONYMOUS: Caller = { credentialHash: '', principal: undefined };

export async function createAuthenticator(options: AuthenticatorOptions): Promise<Authenticator> {
  const { auth, bind, logger } = options;
  const resourceUrl = checkResourceUrl(auth.resource_url);
  const { keys, warnings } = await ApiKeys.from(auth.api_keys);
  let jwt: JwtVerifier | undefined;
  if (jwtConfigured(auth.jwt)) {
    const built = await createJwtVerifier(auth.jwt, resourceUrl);
    jwt = built.verifier;
    warnings.push(...built.warnings);
    if (authorizationServers(auth).length === 0) {
      warnings.push('auth.authorization_servers: empty (and no auth.jwt.issuer); clients cannot discover where to get tokens');
    }
  }
  const mode: AuthMode = keys.size > 0 || jwt ? 'verify' : 'none';
  if (auth.required && mode === 'none') {
    throw configProblem(
      'auth.required: true needs a way to check credentials: auth.api_keys or auth.jwt (jwks_url, public_keys or secret)',
    );
  }
  if (bind === 'principal' && !jwt)
    warnings.push('sessions.bind: "principal" only differs from "token" for JWT callers, and auth.jwt is not configured');
  for (const warning of warnings) logger.warn('auth configuration', { warning });
  logger.info('authentication', { mode, keys: keys.size, jwt: jwt !== undefined, required: auth.required, bind, hmac: auth.secret !== '' });

  const hash = bindingHasher(auth.secret);

  const refuse = (request: Request, challenge: Challenge): AuthOutcome => {
    const resourceMetadata = jwt ? metadataUrlOf(resourceOf(resourceUrl, request)) : undefined;
    const header = bearerChallenge({ ...challenge, ...(resourceMetadata && { resourceMetadata }) });
    const reason = challenge.description ?? 'credentials required';
    return { ok: false, response: jsonRpcError(401, JsonRpcCode.ServerError, `Unauthorized: ${reason}`, { 'WWW-Authenticate': header }) };
  };
  const invalid = (request: Request, presented: PresentedCredential, description: string, error: Challenge['error'] = 'invalid_token') => {
    logger.debug('authentication failed', { via: presented.source, reason: description });
    return refuse(request, { error, description });
  };

  async function verify(request: Request, presented: PresentedCredential): Promise<AuthOutcome> {
    if (presented.source === 'other-scheme')
      return invalid(request, presented, 'unsupported authorization scheme; use Bearer', 'invalid_request');
    const key = keys.size > 0 ? await keys.match(presented.value) : undefined;
    if (key) {
      const principal: Principal = { id: `api_keys[${key.index}]`, method: 'api_key' };
      return { ok: true, caller: { credentialHash: await hash(presented.value), principal } };
    }
    if (!jwt || presented.source === 'x-api-key') return invalid(request, presented, jwt ? 'unknown API key' : 'unknown API key or token');
    const outcome = await jwt.verify(presented.value);
    if (!outcome.ok) {
      if (outcome.unavailable) {
        logger.warn('token keys unavailable', { reason: outcome.reason });
        return { ok: false, response: unavailable('Token verification keys unavailable; retry shortly') };
      }
      return invalid(request, presented, outcome.reason);
    }
    const { iss, sub } = outcome.claims;
    const principal: Principal = { id: iss && sub ? `${iss}#${sub}` : (sub ?? iss ?? ''), method: 'jwt', claims: outcome.claims };
    // Bound to the subject, a refreshed token keeps the session; a token without a subject can
    // only be bound to itself.
    const material = bind === 'principal' && sub ? `principal:${JSON.stringify([iss ?? '', sub])}` : presented.value;
    return { ok: true, caller: { credentialHash: await hash(material), principal } };
  }

  return {
    mode,
    async authenticate(request) {
      const presented = presentedCredential(request);
      if (!presented) return auth.required ? refuse(request, {}) : { ok: true, caller: ANONYMOUS };
      if (mode === 'none') return { ok: true, caller: { credentialHash: await hash(presented.value), principal: undefined } };
      return verify(request, presented);
    },
    metadata(request, suffix) {
      return jwt ? metadataResponse(auth, request, suffix) : undefined;
    },
  };
}
