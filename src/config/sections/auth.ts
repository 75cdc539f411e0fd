/** `auth`: which credentials `/mcp` accepts (API keys, JWTs) and the OAuth metadata it publishes. */
import { z } from 'zod';
import { boolean, duration, stringList } from '../values.js';

export const authSection = z.strictObject({
  /** Refuse requests without valid credentials (401). */
  required: boolean().default(false),
  /** API keys: the keys themselves (usually `${ENV}` references) or `sha256:<hex>` digests. */
  api_keys: stringList().default([]),
  jwt: z
    .strictObject({
      /** JWKS document URL of the token issuer. */
      jwks_url: z.string().default(''),
      /** Static verification keys: PEM (SPKI) public keys or JWK JSON objects as text. */
      public_keys: stringList().default([]),
      /** Shared secret for HMAC-signed tokens (HS256/384/512). */
      secret: z.string().default(''),
      issuer: z.string().default(''),
      audience: z.string().default(''),
      clock_skew: duration({ positive: false }).default(30_000),
      algorithms: stringList().default([]),
    })
    .prefault({}),
  /** Keys credential hashes (HMAC-SHA-256) when set; plain SHA-256 otherwise. */
  secret: z.string().default(''),
  /** Public URL of this MCP server (the protected resource), for OAuth metadata. */
  resource_url: z.string().default(''),
  /** Authorization servers that issue tokens for this resource, for OAuth metadata. */
  authorization_servers: stringList().default([]),
});
