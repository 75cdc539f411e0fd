// Who sends a request: the caller as authentication found it. Both eras and the declarations a
// handler sees take it from here.

/** Who is calling: filled by authentication; anonymous callers have no principal. */
export interface Principal {
  /** Stable identifier of the caller (API key id, or JWT `iss` + `sub`). */
  id: string;
  /** How the caller authenticated. */
  method: 'api_key' | 'jwt';
  /** Verified claims, for JWT callers. */
  claims?: Record<string, unknown>;
}

/** Who sends a request, as both eras need to know. */
export interface Caller {
  /**
   * Digest of what the session is bound to (the credential, or a JWT's issuer and subject; see
   * src/auth); '' for anonymous callers. Never the credential itself.
   */
  credentialHash: string;
  principal: Principal | undefined;
}
