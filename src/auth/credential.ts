// The credential a request presents, and the digests it is reduced to. Only WebCrypto: this runs
// on Workers as well as on Node. Raw credentials go no further than the authenticator; sessions
// and logs only ever see digests.

export interface PresentedCredential {
  /** Where it came from: `Authorization: Bearer`, `X-API-Key`, or another Authorization scheme. */
  source: 'bearer' | 'x-api-key' | 'other-scheme';
  /** The token or key itself (for another scheme: the whole header value). */
  value: string;
}

/** Undefined when the request carries no credential (anonymous). */
export function presentedCredential(request: Request): PresentedCredential | undefined {
  const authorization = request.headers.get('authorization')?.trim();
  if (authorization) {
    const match = /^Bearer\s+(\S.*)$/i.exec(authorization);
    return match ? { source: 'bearer', value: match[1]!.trim() } : { source: 'other-scheme', value: authorization };
  }
  const key = request.headers.get('x-api-key')?.trim();
  return key ? { source: 'x-api-key', value: key } : undefined;
}

const encoder = new TextEncoder();

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = '';
  for (const byte of view) out += byte.toString(16).padStart(2, '0');
  return out;
}

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

/**
 * Equality whose running time depends only on the lengths, not on where the inputs differ. The
 * inputs compared here are digests of equal length, so the length check reveals nothing.
 */
export function constantTimeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const x = typeof a === 'string' ? encoder.encode(a) : a;
  const y = typeof b === 'string' ? encoder.encode(b) : b;
  if (x.length !== y.length) return false;
  let difference = 0;
  for (let i = 0; i < x.length; i++) difference |= x[i]! ^ y[i]!;
  return difference === 0;
}

/** Turns what a session is bound to into the digest stored with it (hex). */
export type BindingHasher = (material: string) => Promise<string>;

/**
 * SHA-256 by default; HMAC-SHA-256 keyed with the server secret when one is configured, so that
 * stored digests of low-entropy credentials cannot be brute-forced from a database dump alone.
 */
export function bindingHasher(secret: string): BindingHasher {
  if (!secret) return async (material) => toHex(await sha256(material));
  const key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return async (material) => toHex(await crypto.subtle.sign('HMAC', await key, encoder.encode(material)));
}
