// The zero-configuration store: sessions in this process's memory, gone on restart. Same rules as
// the database store (lifetime, idleness, binding), so switching stores changes durability only.
import { constantTimeEqual } from '../auth/credential.js';
import { InProcessChannel } from '../channel/in-process.js';
import { SESSION_ENDED, sessionTopic } from '../channel/topics.js';
import type {
  CleanupOptions,
  CleanupReport,
  Negotiated,
  NewSession,
  OpenResult,
  RemoveResult,
  SessionLimits,
  SessionRecord,
  SessionStore,
  SessionSummary,
  StatePatch,
} from './types.js';

/**
 * One stored session, kept small: times as numbers, state as JSON text (which also gives every
 * request its own copy for free), and the negotiated part shared between sessions whose clients
 * negotiated the same thing (most do).
 */
interface Entry {
  credentialHash: string;
  createdAt: number;
  lastActiveAt: number;
  expiresAt: number;
  negotiated: Negotiated;
  state: string;
}

/** Distinct negotiated values kept for sharing; past this, sessions keep their own copy. */
const MAX_SHARED = 1_000;

/** How long channel messages are kept when the caller does not say. */
const DEFAULT_RETENTION_MS = 5 * 60_000;

export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory' as const;
  readonly channel: InProcessChannel;
  readonly #sessions = new Map<string, Entry>();
  readonly #secrets = new Map<string, string>();
  readonly #shared = new Map<string, Negotiated>();

  constructor(
    readonly limits: SessionLimits,
    private readonly now: () => number = Date.now,
    options: { retentionMs?: number } = {},
  ) {
    this.channel = new InProcessChannel(options.retentionMs ?? DEFAULT_RETENTION_MS, now);
  }

  #share(negotiated: Negotiated): Negotiated {
    const { protocolVersion, clientCapabilities, clientInfo } = negotiated;
    const key = JSON.stringify([protocolVersion, clientCapabilities, clientInfo]);
    const known = this.#shared.get(key);
    if (known) return known;
    const copy: Negotiated = Object.freeze(JSON.parse(JSON.stringify({ protocolVersion, clientCapabilities, clientInfo })));
    if (this.#shared.size < MAX_SHARED) this.#shared.set(key, copy);
    return copy;
  }

  async create(session: NewSession): Promise<SessionRecord> {
    const now = this.now();
    const entry: Entry = {
      credentialHash: session.credentialHash,
      createdAt: now,
      lastActiveAt: now,
      expiresAt: now + this.limits.ttlMs,
      negotiated: this.#share(session),
      state: JSON.stringify(session.state),
    };
    this.#sessions.set(session.id, entry);
    return toRecord(session.id, entry);
  }

  #live(id: string, now: number): Entry | undefined {
    const entry = this.#sessions.get(id);
    if (!entry) return undefined;
    if (!isLive(entry, now, this.limits)) {
      this.#sessions.delete(id);
      return undefined;
    }
    return entry;
  }

  async open(id: string, credentialHash: string): Promise<OpenResult> {
    const now = this.now();
    const entry = this.#live(id, now);
    if (!entry) return { status: 'not_found' };
    if (!boundTo(entry, credentialHash)) return { status: 'forbidden' };
    entry.lastActiveAt = now;
    return { status: 'ok', session: toRecord(id, entry), at: this.channel.clock() };
  }

  async update(id: string, patch: StatePatch): Promise<void> {
    const entry = this.#sessions.get(id);
    if (!entry) return;
    const state = JSON.parse(entry.state) as Record<string, unknown>;
    for (const key of patch.unset) delete state[key];
    Object.assign(state, patch.set);
    entry.state = JSON.stringify(state);
  }

  async stateHas(id: string, key: string): Promise<boolean> {
    const entry = this.#sessions.get(id);
    return entry !== undefined && Object.hasOwn(JSON.parse(entry.state) as object, key);
  }

  async remove(id: string, credentialHash: string): Promise<RemoveResult> {
    const entry = this.#live(id, this.now());
    if (!entry) return 'not_found';
    if (!boundTo(entry, credentialHash)) return 'forbidden';
    this.#sessions.delete(id);
    await this.channel.publish(sessionTopic(id), SESSION_ENDED);
    return 'ok';
  }

  async cleanup(options: CleanupOptions = {}): Promise<CleanupReport> {
    const started = this.now();
    let removed = 0;
    for (const [id, entry] of this.#sessions) {
      if (!isLive(entry, started, this.limits)) {
        this.#sessions.delete(id);
        removed++;
      }
    }
    const messagesRemoved = this.channel.sweep();
    // One pass over a map is one "batch"; it cannot be interrupted, so the signal has no effect.
    const durationMs = this.now() - started;
    if (removed > 0) options.onBatch?.({ index: 1, removed, durationMs });
    return { removed, batches: removed > 0 ? 1 : 0, truncated: false, durationMs, messagesRemoved };
  }

  async list(limit = 100): Promise<SessionSummary[]> {
    const now = this.now();
    return [...this.#sessions.entries()]
      .filter(([, entry]) => isLive(entry, now, this.limits))
      .sort(([, a], [, b]) => b.lastActiveAt - a.lastActiveAt)
      .slice(0, limit)
      .map(([id, e]) => ({
        id,
        bound: e.credentialHash !== '',
        createdAt: new Date(e.createdAt),
        lastActiveAt: new Date(e.lastActiveAt),
        expiresAt: new Date(e.expiresAt),
      }));
  }

  /** For operators and tests: a copy of the stored record, without touching it. */
  peek(id: string): SessionRecord | undefined {
    const entry = this.#sessions.get(id);
    return entry && toRecord(id, entry);
  }

  get size(): number {
    return this.#sessions.size;
  }

  async sharedSecret(name: string, made: string): Promise<string> {
    let secret = this.#secrets.get(name);
    if (secret === undefined) this.#secrets.set(name, (secret = made));
    return secret;
  }

  async close(): Promise<void> {
    await this.channel.close();
  }
}

function toRecord(id: string, entry: Entry): SessionRecord {
  return {
    id,
    credentialHash: entry.credentialHash,
    createdAt: new Date(entry.createdAt),
    lastActiveAt: new Date(entry.lastActiveAt),
    expiresAt: new Date(entry.expiresAt),
    ...entry.negotiated,
    state: JSON.parse(entry.state) as Record<string, unknown>,
  };
}

function isLive(entry: Entry, now: number, limits: SessionLimits): boolean {
  return entry.expiresAt > now && entry.lastActiveAt + limits.idleTimeoutMs > now;
}

/** Anonymous sessions (created without a credential) may be used by whoever holds the id. */
export function boundTo(record: { credentialHash: string }, credentialHash: string): boolean {
  return record.credentialHash === '' || constantTimeEqual(record.credentialHash, credentialHash);
}
