// Task ids: the only thing a client needs to read a task's result, so as unguessable as session
// ids: 256 bits from the platform's CSPRNG (WebCrypto, on every runtime), base64url.
export function newTaskId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
