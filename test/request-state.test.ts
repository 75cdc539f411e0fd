// requestState under key rotation, whatever the SDK's codec says when it refuses: here its
// refusals are reworded (as a later release may word them), and the key that verifies a state
// must still be found. The codec itself is the SDK's, unchanged.
import type { ServerContext } from '@modelcontextprotocol/server';
import { describe, expect, it, vi } from 'vitest';
import { createRequestStateSeal, keyFromSecret } from '../src/era-2026/request-state.js';

vi.mock('@modelcontextprotocol/server', async (importOriginal) => {
  const sdk = await importOriginal<typeof import('@modelcontextprotocol/server')>();
  const reworded = (options: Parameters<typeof sdk.createRequestStateCodec>[0]) => {
    const codec = sdk.createRequestStateCodec(options);
    const verify: typeof codec.verify = (state, ctx) =>
      codec.verify(state, ctx).catch(() => {
        throw new Error('requestState refused');
      });
    return { ...codec, verify };
  };
  return { ...sdk, createRequestStateCodec: reworded as typeof sdk.createRequestStateCodec };
});

const OLD = keyFromSecret('first-request-state-secret-of-32-bytes!');
const NEW = keyFromSecret('second-request-state-secret-of-32-bytes');
const OTHER = keyFromSecret('another-request-state-secret-of-32-byte');
const TARGET = 'tools/call test_tool';
const ctx = (caller: string) => ({ http: { authInfo: { clientId: caller } } }) as unknown as ServerContext;
const seal = (...keys: Uint8Array[]) => createRequestStateSeal(async () => keys, 60_000);

describe('requestState keys', () => {
  it('verifies a state under the key that sealed it, wherever that key is in the list', async () => {
    const before = seal(OLD);
    const during = seal(NEW, OLD);
    const state = await before.seal({ step: 1 }, TARGET, ctx('alice'));
    expect(during.open(await during.verify(state, ctx('alice')), TARGET)).toEqual({ step: 1 });
    const fresh = await during.seal({ step: 2 }, TARGET, ctx('alice'));
    expect(during.open(await during.verify(fresh, ctx('alice')), TARGET)).toEqual({ step: 2 });
  });

  it('refuses a state of a key it does not hold, a foreign caller and a tampered state', async () => {
    const during = seal(NEW, OLD);
    await expect(during.verify(await seal(OTHER).seal({}, TARGET, ctx('alice')), ctx('alice'))).rejects.toThrow();
    const state = await seal(OLD).seal({}, TARGET, ctx('alice'));
    await expect(during.verify(state, ctx('bob'))).rejects.toThrow();
    const at = state.length - 3;
    await expect(during.verify(state.slice(0, at) + (state[at] === 'A' ? 'B' : 'A') + state.slice(at + 1), ctx('alice'))).rejects.toThrow();
    await expect(during.verify('not-a-state', ctx('alice'))).rejects.toThrow();
  });
});
