// requestState for 2026-07-28 clients. A handler's InputRequired may carry state for its next
// round; it travels through the client, so it comes back as attacker-controlled input. Before it
// leaves, it is sealed with HMAC-SHA256 (the SDK's codec), bound to the caller (the digest that
// sessions are bound to as well) and to the request it answers (method and tool, prompt or
// resource), and given an expiry. On the way back the SDK runs `verify` before the handler: a
// tampered, foreign or expired state is a JSON-RPC error (-32602), never a new prompt.
//
// The key is shared by every instance: from configuration (a Worker or Vercel secret), or
// generated once and kept in the database, or (memory store) made per process. Rotation: the
// first key seals, and every key verifies, so an old key stays in the list until what it sealed
// has expired (request_state.ttl). A state starts with the id of the key that sealed it
// (`<key id>.<the SDK's state>`), so the one key to verify it with is known before any MAC is
// checked, and nothing depends on how the SDK words its refusals.
import { createRequestStateCodec, type RequestStateCodec, type ServerContext } from '@modelcontextprotocol/server';
import { FaultCode, ProtocolFault } from '../core/calls.js';

/** What a sealed state holds: the request it belongs to and the handler's own payload. */
interface Sealed {
  /** Method and target (tool or prompt name, resource URI) of the request that minted it. */
  for: string;
  payload: unknown;
}

/** Where the keys come from; called once per platform, on the first request that needs them. */
export type KeySource = () => Promise<Uint8Array[]>;

export interface RequestStateSeal {
  /** Loads the keys (once per platform; a failure is retried by the next call). */
  ready(): Promise<void>;
  /** Seals a handler's payload for the request at hand. */
  seal(payload: unknown, target: string, ctx: ServerContext): Promise<string>;
  /** The SDK's verify hook: checks the MAC (under the key the state names), the expiry and the caller binding. */
  verify(state: string, ctx: ServerContext): Promise<Sealed>;
  /** The payload of a verified state, if it was minted for `target`; otherwise the request is refused. */
  open(verified: unknown, target: string): unknown;
}

interface KeyedCodec {
  id: string;
  codec: RequestStateCodec<Sealed>;
}

/**
 * Names a key in the states it seals: 8 bytes of a labelled SHA-256 of it, base64url (no dots).
 * Every instance derives the same id from the same key; the id tells nothing usable about the key.
 */
async function keyId(key: Uint8Array): Promise<string> {
  const label = new TextEncoder().encode('mcp-baton.requestState.keyId:');
  const input = new Uint8Array(label.byteLength + key.byteLength);
  input.set(label);
  input.set(key, label.byteLength);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', input)).slice(0, 8);
  return btoa(String.fromCharCode(...digest))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

/** Whom a request is from: the caller digest the app passes in `authInfo.clientId`. */
const callerDigest = (ctx: ServerContext) => ctx.http?.authInfo?.clientId ?? '';

export function createRequestStateSeal(keys: KeySource, ttlMs: number): RequestStateSeal {
  let codecs: Promise<KeyedCodec[]> | undefined;
  const load = () =>
    (codecs ??= keys().then(async (list) => {
      if (list.length === 0) throw new Error('request_state: no key to seal requestState with');
      const ttlSeconds = Math.max(1, Math.round(ttlMs / 1000));
      return Promise.all(
        list.map(async (key) => ({
          id: await keyId(key),
          codec: createRequestStateCodec<Sealed>({ key, ttlSeconds, bind: callerDigest }),
        })),
      );
    })).catch((error: unknown) => {
      // A key that could not be had (the database was down) is asked for again next time.
      codecs = undefined;
      throw error;
    });

  return {
    async ready() {
      await load();
    },
    async seal(payload, target, ctx) {
      const [current] = await load();
      return `${current!.id}.${await current!.codec.mint({ for: target, payload }, ctx)}`;
    },
    async verify(state, ctx) {
      const dot = state.indexOf('.');
      const id = dot > 0 ? state.slice(0, dot) : '';
      const keyed = (await load()).find((k) => k.id === id);
      // Sealed under no key held here: never issued by this deployment, or its key was retired.
      if (keyed === undefined) throw new Error('requestState: sealed under an unknown key');
      return keyed.codec.verify(state.slice(dot + 1), ctx);
    },
    open(verified, target) {
      const sealed = verified as Sealed | undefined;
      if (sealed === undefined) return undefined;
      if (sealed.for !== target) {
        throw new ProtocolFault(FaultCode.InvalidParams, 'Invalid or expired requestState', { reason: 'invalid_request_state' });
      }
      return sealed.payload;
    },
  };
}

/** Decodes configured secrets: text of at least 32 bytes, or `base64:` followed by the bytes. */
export function keyFromSecret(secret: string): Uint8Array {
  const bytes = secret.startsWith('base64:')
    ? Uint8Array.from(atob(secret.slice(7)), (c) => c.charCodeAt(0))
    : new TextEncoder().encode(secret);
  if (bytes.byteLength < 32) throw new Error('must be at least 32 bytes long');
  return bytes;
}

/** 32 random bytes: a key for one process (memory store) or to keep in the database. */
export function newKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}
