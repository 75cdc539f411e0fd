// The era routing's shortcut (src/platform/era.ts, plainlyLegacy) never disagrees with the SDK's
// own classification (isLegacyRequest): every body and header it calls legacy, the SDK calls
// legacy too. The cases cross the shapes a client may send with the headers it may send them with.
import { describe, expect, it } from 'vitest';
import { isLegacyRequest } from '@modelcontextprotocol/server';
import { plainlyLegacy } from '../src/platform/era.js';

const CLAIM = 'io.modelcontextprotocol/protocolVersion';
const bodies: Record<string, unknown> = {
  'tools/call': { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't', arguments: {} } },
  'string id': { jsonrpc: '2.0', id: 'a', method: 'ping' },
  'no params': { jsonrpc: '2.0', id: 2, method: 'tools/list' },
  initialize: {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
  },
  notification: { jsonrpc: '2.0', method: 'notifications/initialized' },
  'cancel notification': { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
  'other _meta': { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 't', _meta: { progressToken: 1 } } },
  'modern claim': { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 't', _meta: { [CLAIM]: '2026-07-28' } } },
  'legacy claim': { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 't', _meta: { [CLAIM]: '2025-11-25' } } },
  'bad claim': { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { _meta: { [CLAIM]: 7 } } },
  'claim on a notification': { jsonrpc: '2.0', method: 'notifications/initialized', params: { _meta: { [CLAIM]: '2026-07-28' } } },
  'claimed initialize': { jsonrpc: '2.0', id: 7, method: 'initialize', params: { _meta: { [CLAIM]: '2026-07-28' } } },
  result: { jsonrpc: '2.0', id: 8, result: {} },
  error: { jsonrpc: '2.0', id: 9, error: { code: -1, message: 'no' } },
  batch: [{ jsonrpc: '2.0', id: 1, method: 'ping' }],
  'wrong version': { jsonrpc: '1.0', id: 1, method: 'ping' },
  'null id': { jsonrpc: '2.0', id: null, method: 'ping' },
  'params array': { jsonrpc: '2.0', id: 1, method: 'ping', params: [1] },
  'method not a string': { jsonrpc: '2.0', id: 1, method: 3 },
  'request and result': { jsonrpc: '2.0', id: 1, method: 'ping', result: {} },
  empty: {},
  text: 'hello',
};
const versions = [undefined, '2025-11-25', '2025-06-18', '2024-11-05', '2026-07-28', ' 2026-07-28', '2099-01-01', 'nonsense', ''];

describe('era routing', () => {
  it('calls legacy only what the SDK calls legacy', async () => {
    let shortcuts = 0;
    for (const [name, body] of Object.entries(bodies)) {
      for (const version of versions) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (version !== undefined) headers['mcp-protocol-version'] = version;
        const request = new Request('http://baton.test/mcp', { method: 'POST', headers, body: JSON.stringify(body) });
        if (!plainlyLegacy(request, body)) continue;
        shortcuts++;
        expect({ name, version, legacy: await isLegacyRequest(request, body) }).toEqual({ name, version, legacy: true });
      }
    }
    // It is a shortcut for the common case: plain requests and notifications with a 2025 header or none.
    expect(shortcuts).toBe(7 * 4);
  });
});
