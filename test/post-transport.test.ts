// The HTTP side of one POST of a 2025 session (src/era-2025/post-transport.ts), on its own: what
// the exchange router relies on since it replaced the SDK's web-standard transport there. The
// session layer's end-to-end tests (sdk-client, exchange-router, streams, conformance) cover it
// in use; these pin the edges the router depends on.
import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { PostTransport } from '../src/era-2025/post-transport.js';
import { SseReader } from './helpers/sse.js';

const post = () =>
  new Request('http://baton.test/mcp', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-probe': 'yes' },
  });
const call = (id: number | string) => ({ jsonrpc: '2.0' as const, id, method: 'tools/call', params: { name: 'probe' } });
const answer = (id: number | string) => ({ jsonrpc: '2.0' as const, id, result: { content: [] } });

/** A transport that records what reaches the server. */
function recording(json = false) {
  const transport = new PostTransport({ json });
  const received: { message: JSONRPCMessage; headers: unknown }[] = [];
  const errors: string[] = [];
  transport.onmessage = (message, extra) => received.push({ message, headers: extra?.requestInfo?.headers });
  transport.onerror = (error) => errors.push(error.message);
  return { transport, received, errors };
}

describe('the POST transport of a 2025 session', () => {
  it('streams what the server sends about a request and ends the stream with its answer', async () => {
    const { transport, received } = recording();
    const response = await transport.handleRequest(post(), { parsedBody: call(1) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(received.map((r) => r.message)).toEqual([call(1)]);
    // The request as the SDK describes it to handlers, made when a handler looks.
    expect((received[0]!.headers as Record<string, string>)['x-probe']).toBe('yes');

    const progress = { jsonrpc: '2.0' as const, method: 'notifications/progress', params: { progressToken: 't', progress: 1 } };
    await transport.send(progress, { relatedRequestId: 1 });
    await transport.send(answer(1));
    const reader = new SseReader(response);
    expect((await reader.next())?.message).toEqual(progress);
    expect((await reader.next())?.message).toEqual(answer(1));
    expect(await reader.next()).toBeUndefined();
  });

  it("keeps a batch's stream open until its last request is answered, and refuses a second answer", async () => {
    const { transport } = recording();
    const response = await transport.handleRequest(post(), { parsedBody: [call(1), call('b')] });
    await transport.send(answer('b'));
    await transport.send(answer(1));
    await expect(transport.send(answer(1))).rejects.toThrow('No connection established for request ID: 1');
    const reader = new SseReader(response);
    expect((await reader.next())?.message.id).toBe('b');
    expect((await reader.next())?.message.id).toBe(1);
    expect(await reader.next()).toBeUndefined();
  });

  it('answers initialize as one JSON body, and a batch in request order whatever the order of answers', async () => {
    const { transport } = recording(true);
    const pending = transport.handleRequest(post(), { parsedBody: [call(1), call(2)] });
    await transport.send(
      { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'dropped' } },
      { relatedRequestId: 1 },
    );
    await transport.send(answer(2));
    await transport.send(answer(1));
    const response = await pending;
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual([answer(1), answer(2)]);
  });

  it('answers a POST of notifications only with 202, after they reached the server', async () => {
    const { transport, received } = recording();
    const note = { jsonrpc: '2.0' as const, method: 'notifications/cancelled', params: { requestId: 9 } };
    const response = await transport.handleRequest(post(), { parsedBody: note });
    expect(response.status).toBe(202);
    expect(received.map((r) => r.message)).toEqual([note]);
  });

  it("refuses what the SDK's schema refuses, and batches over 100, before anything reaches the server", async () => {
    for (const body of [{ jsonrpc: '2.0', id: 1, method: 7 }, Array.from({ length: 101 }, (_, i) => call(i))]) {
      const { transport, received, errors } = recording();
      const response = await transport.handleRequest(post(), { parsedBody: body });
      expect(response.status).toBe(400);
      const error = (await response.json()).error;
      expect(error.code).toBe(Array.isArray(body) ? -32600 : -32700);
      expect(received).toEqual([]);
      expect(errors).toHaveLength(1);
    }
  });

  it('drops a notification but fails the answer once the client went away or the stream was closed', async () => {
    const { transport } = recording();
    const response = await transport.handleRequest(post(), { parsedBody: call(1) });
    await response.body!.cancel();
    await transport.send(
      { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } },
      { relatedRequestId: 1 },
    );
    await expect(transport.send(answer(1))).rejects.toThrow('No connection established for request ID: 1');

    const closed = recording().transport;
    const second = await closed.handleRequest(post(), { parsedBody: call(2) });
    closed.closeSSEStream(2);
    await expect(closed.send(answer(2))).rejects.toThrow('No connection established for request ID: 2');
    expect(await new SseReader(second).next()).toBeUndefined();
  });

  it('refuses an answer for a request it does not carry, and a message with no request outside one', async () => {
    const { transport } = recording();
    await transport.handleRequest(post(), { parsedBody: call(1) });
    await expect(transport.send(answer(5))).rejects.toThrow('No connection established for request ID: 5');
    await expect(transport.send({ jsonrpc: '2.0', id: 5, result: {} }, {})).rejects.toThrow();
    // A notification unrelated to any request has no stream to go to here: dropped, as the SDK's does without a GET stream.
    await expect(transport.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })).resolves.toBeUndefined();
  });

  it('serves one request only, and a closed transport serves none', async () => {
    const { transport } = recording();
    await transport.handleRequest(post(), { parsedBody: call(1) });
    await expect(transport.handleRequest(post(), { parsedBody: call(2) })).rejects.toThrow('serves one request');
    const closed = recording();
    let onclose = 0;
    closed.transport.onclose = () => onclose++;
    await closed.transport.close();
    await closed.transport.close();
    expect(onclose).toBe(1);
    const response = await closed.transport.handleRequest(post(), { parsedBody: call(1) });
    expect(response.status).toBe(404);
    expect(closed.received).toEqual([]);
  });
});
