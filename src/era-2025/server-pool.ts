// Idle MCP servers, already restored to their session, kept for that session's next request on
// this instance. Restoring (building an SDK Server, connecting it, replaying the session's
// `initialize`) costs about as much as the rest of the platform's work on a request, and a
// session that calls again soon would repeat it for nothing.
//
// The pool is a cache and nothing more. The store still decides on every request whether the
// session exists and whether the caller may use it; a server is taken from the pool only after
// that. What a pooled server remembers is exactly what `initialize` negotiated, which never
// changes during a session; everything else (logging level, subscriptions, enrichment) is
// session state, loaded from the store for each request. A session not in the pool, on another
// instance or after a restart, is restored as before.
//
// Still, a session that ended is let go of at once, wherever it ended: while a session has idle
// servers here, the pool watches for its end (`Watch`, given by the instance, which hears it
// through the channel), so that a DELETE or revoke served by another instance frees them too.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { buildServer } from './server.js';
import { RequestTransport } from './transport.js';
import type { ExchangeRouter } from './exchange-router.js';
import type { Registry } from '../core/registry.js';

/** A session's server and the transport it stays connected to. */
export interface SessionServer {
  readonly server: Server;
  readonly transport: RequestTransport;
}

/** A new server for the session, connected to the transport it keeps for life; not restored yet. */
export async function connectServer(
  registry: Pick<Registry, 'capabilities' | 'serverInfo'>,
  sessionId: string,
  router: ExchangeRouter,
  options: { tasks?: boolean } = {},
): Promise<SessionServer> {
  const server = buildServer(registry, options);
  const transport = new RequestTransport(sessionId, router);
  await server.connect(transport);
  return { server, transport };
}

export interface ServerPoolLimits {
  /** Idle servers kept in all; the least recently used session's go first. */
  total: number;
  /** Idle servers kept per session (a session serves concurrent requests with several). */
  perSession: number;
}

export const DEFAULT_POOL_LIMITS: ServerPoolLimits = { total: 1024, perSession: 4 };

/**
 * Starts watching a session that now has idle servers here; the function it returns stops
 * watching (the session has none left).
 */
export type Watch = (sessionId: string) => () => void;

export class ServerPool {
  // Insertion order is recency order: a session is moved to the end whenever a server returns.
  readonly #idle = new Map<string, SessionServer[]>();
  readonly #unwatch = new Map<string, () => void>();
  readonly #limits: ServerPoolLimits;
  readonly #watch: Watch | undefined;
  #size = 0;

  constructor(limits: ServerPoolLimits = DEFAULT_POOL_LIMITS, watch?: Watch) {
    this.#limits = limits;
    this.#watch = watch;
  }

  /** An idle server of the session, now taken out of the pool, or undefined. */
  take(sessionId: string): SessionServer | undefined {
    const idle = this.#idle.get(sessionId);
    if (!idle) return undefined;
    const entry = idle.pop()!;
    this.#size--;
    if (idle.length === 0) this.#forget(sessionId);
    return entry;
  }

  /** Returns a server that finished its request. */
  give(sessionId: string, entry: SessionServer): void {
    const idle = this.#idle.get(sessionId);
    if (idle) {
      // Moved to the end: the most recently used session.
      this.#idle.delete(sessionId);
      this.#idle.set(sessionId, idle);
      if (idle.length >= this.#limits.perSession) return;
      idle.push(entry);
    } else {
      this.#idle.set(sessionId, [entry]);
      if (this.#watch) this.#unwatch.set(sessionId, this.#watch(sessionId));
    }
    this.#size++;
    while (this.#size > this.#limits.total) {
      const [oldest, servers] = this.#idle.entries().next().value!;
      servers.shift();
      this.#size--;
      if (servers.length === 0) this.#forget(oldest);
    }
  }

  /** Forgets a session's idle servers (the session was deleted). */
  drop(sessionId: string): void {
    const idle = this.#idle.get(sessionId);
    if (!idle) return;
    this.#size -= idle.length;
    this.#forget(sessionId);
  }

  /** Forgets every idle server (the instance closes). */
  clear(): void {
    for (const sessionId of [...this.#idle.keys()]) this.drop(sessionId);
  }

  /** Whether the session has idle servers here. */
  holds(sessionId: string): boolean {
    return this.#idle.has(sessionId);
  }

  #forget(sessionId: string): void {
    this.#idle.delete(sessionId);
    const unwatch = this.#unwatch.get(sessionId);
    this.#unwatch.delete(sessionId);
    unwatch?.();
  }

  /** Idle servers held, in all. */
  get size(): number {
    return this.#size;
  }
}
