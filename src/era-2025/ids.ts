// Session ids: 256 bits from the platform's CSPRNG, base64url (43 visible ASCII characters).
const MAX_ID_LENGTH = 128;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Ids we could never have issued are refused before any store access. */
export function isWellFormedSessionId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && VISIBLE_ASCII.test(id);
}
