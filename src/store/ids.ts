// Ids that are the only thing a client needs to reach what they name (a session, a task): 256 bits
// from the platform's CSPRNG (WebCrypto, on every runtime), base64url, 43 visible ASCII characters.
export function unguessableId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
