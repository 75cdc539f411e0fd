// The work in flight on one instance: the exchanges (HTTP requests of 2025 sessions) being
// served, and the server-to-client requests (elicitation, sampling, roots) waiting for the
// client's reply. One per platform, owned by its Instance (src/sessions/instance.ts), so that two
// platforms in one process share nothing here, as two processes would not.
//
// A server-to-client request goes out under an id that names this instance (`<instance>.<n>`):
// the client's reply, a separate POST, may reach any instance, and the id tells it where the
// request waits.
import type { JSONRPCMessage, JSONRPCResponse, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { isResponse, type Exchange } from './transport.js';

/** Where a client's reply to a server-to-client request belongs. */
export type ReplyRoute =
  /** Delivered to the request waiting on this instance. */
  | { kind: 'delivered' }
  /** Addressed to another instance. */
  | { kind: 'elsewhere'; instanceId: string }
  /** Addressed to this instance, but nothing waits for it (answered, cancelled, timed out). */
  | { kind: 'unclaimed' }
  /** Not an id this platform gives out. */
  | { kind: 'foreign' };

export class Exchanges {
  readonly instanceId: string;
  /** Server-to-client requests waiting for a reply, by their id on the wire. */
  readonly #waiting = new Map<string, Exchange>();
  /** Exchanges being served, by session. */
  readonly #running = new Map<string, Set<Exchange>>();
  #outgoing = 0;
  #internal = 0;

  constructor(instanceId: string) {
    this.instanceId = instanceId;
  }

  /** The id under which the server sees a client's request: unique on this instance. */
  internalId(): string {
    return `~${++this.#internal}`;
  }

  /** Registers a server-to-client request of `exchange`; returns its id on the wire. */
  expectReply(exchange: Exchange, serverId: RequestId): string {
    const id = `${this.instanceId}.${++this.#outgoing}`;
    exchange.outgoing.set(id, serverId);
    this.#waiting.set(id, exchange);
    return id;
  }

  running(exchange: Exchange): void {
    let set = this.#running.get(exchange.sessionId);
    if (!set) this.#running.set(exchange.sessionId, (set = new Set()));
    set.add(exchange);
  }

  ended(exchange: Exchange): void {
    for (const id of exchange.outgoing.keys()) this.#waiting.delete(id);
    exchange.outgoing.clear();
    const set = this.#running.get(exchange.sessionId);
    if (!set) return;
    set.delete(exchange);
    if (set.size === 0) this.#running.delete(exchange.sessionId);
  }

  /** Delivers a client's reply to the request of this session waiting for it, if it waits here. */
  deliverReply(sessionId: string, reply: JSONRPCResponse): ReplyRoute {
    const id = typeof reply.id === 'string' ? reply.id : String(reply.id);
    const dot = id.lastIndexOf('.');
    const instanceId = dot > 0 ? id.slice(0, dot) : '';
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(instanceId) || !/^\d+$/.test(id.slice(dot + 1))) return { kind: 'foreign' };
    if (instanceId !== this.instanceId) return { kind: 'elsewhere', instanceId };
    const exchange = this.#waiting.get(id);
    const original = exchange?.outgoing.get(id);
    // Another session's client cannot answer for this one, even knowing the id.
    if (!exchange || original === undefined || exchange.sessionId !== sessionId) return { kind: 'unclaimed' };
    exchange.outgoing.delete(id);
    this.#waiting.delete(id);
    exchange.transport.onmessage?.({ ...reply, id: original } as JSONRPCMessage);
    return { kind: 'delivered' };
  }

  /** Cancels a client request of the session if it runs here; false when it does not. */
  cancel(sessionId: string, notification: JSONRPCMessage): boolean {
    const requestId = (notification as { params?: { requestId?: RequestId } }).params?.requestId;
    if (requestId === undefined) return false;
    for (const exchange of this.#running.get(sessionId) ?? []) {
      if (exchange.open.has(requestId)) {
        exchange.transport.cancel(exchange, requestId, notification);
        return true;
      }
    }
    return false;
  }

  /**
   * Routes what answers or cancels work in flight on this instance: replies to server-to-client
   * requests and `notifications/cancelled`. Returns the messages it did not route.
   */
  route(sessionId: string, messages: JSONRPCMessage[]): JSONRPCMessage[] {
    const rest: JSONRPCMessage[] = [];
    for (const message of messages) {
      if (isResponse(message)) {
        if (this.deliverReply(sessionId, message).kind === 'delivered') continue;
      } else if ('method' in message && message.method === 'notifications/cancelled') {
        if (this.cancel(sessionId, message)) continue;
      }
      rest.push(message);
    }
    return rest;
  }

  /** Ends everything in flight for a session here (it was deleted). */
  async endSession(sessionId: string): Promise<void> {
    const set = this.#running.get(sessionId);
    if (!set) return;
    await Promise.all([...set].map((exchange) => exchange.transport.close()));
  }

  /** Client requests whose last answer has not been sent yet (for draining on shutdown). */
  get unfinished(): number {
    let count = 0;
    for (const set of this.#running.values()) for (const exchange of set) count += Math.max(exchange.open.size, 1);
    return count;
  }
}
