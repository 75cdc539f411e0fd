// The zero-configuration store: sessions in this process's memory, gone on restart. Same rules as
// the database store (lifetime, idleness, binding), so switching stores changes durability only.
import { constantTimeEqual } from '../auth/credential.js';
import { InProcessChannel } from './channel/in-process.js';
import { MemoryTaskStore } from './tasks/memory.js';
import { asPayload, SESSION_ENDED, sessionTopic, type SessionMessage } from './channel/topics.js';
import { checkStateSize, negotiatedJson, perCredentialCap } from './limits.js';
import { livedSeconds, sessionsEnded } from '../telemetry/sessions.js';
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
  /** Key of the group the per-credential cap counts this session in. */
  capKey: string;
  createdAt: number;
  lastActiveAt: number;
  expiresAt: number;
  negotiated: Negotiated;
  /** The shared entry `negotiated` comes from, if any (a reference, not another copy of its key). */
  shared: Shared | undefined;
  state: string;
}

/** A negotiated value and how many stored sessions use it; it goes with the last of them. */
interface Shared {
  readonly key: string;
  readonly value: Negotiated;
  users: number;
}

/** Distinct negotiated values kept for sharing; past this, sessions keep their own copy. */
const MAX_SHARED = 1_000;
/**
 * The cap group of sessions bound to credentials nobody checked (not a hex digest, so no clash): they
 * are counted against every live session, anonymous ones included.
 */
const ALL = '*';

/** How long channel messages are kept when the caller does not say. */
const DEFAULT_RETENTION_MS = 5 * 60_000;

export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory' as const;
  readonly channel: InProcessChannel;
  readonly tasks: MemoryTaskStore;
  readonly #sessions = new Map<string, Entry>();
  readonly #secrets = new Map<string, string>();
  /** Keyed by what clients sent: entries live exactly as long as a session uses them. */
  readonly #shared = new Map<string, Shared>();
  /** Ids of the stored sessions of each cap group (a credential digest, '' anonymous, ALL), for the cap. */
  readonly #byCredential = new Map<string, Set<string>>();

  constructor(
    readonly limits: SessionLimits,
    private readonly now: () => number = Date.now,
    options: { retentionMs?: number } = {},
  ) {
    this.channel = new InProcessChannel(options.retentionMs ?? DEFAULT_RETENTION_MS, now);
    this.tasks = new MemoryTaskStore(limits, now, this.channel);
  }

  #share(protocolVersion: string, capabilities: string, info: string): { negotiated: Negotiated; shared: Shared | undefined } {
    const key = `${protocolVersion}\n${capabilities}\n${info}`;
    const known = this.#shared.get(key);
    if (known) {
      known.users++;
      return { negotiated: known.value, shared: known };
    }
    const value: Negotiated = Object.freeze({
      protocolVersion,
      clientCapabilities: JSON.parse(capabilities),
      clientInfo: JSON.parse(info),
    });
    if (this.#shared.size >= MAX_SHARED) return { negotiated: value, shared: undefined };
    const shared: Shared = { key, value, users: 1 };
    this.#shared.set(key, shared);
    return { negotiated: value, shared };
  }

  /** Removes a stored session and what only it used. */
  #forget(id: string, entry: Entry): void {
    this.#sessions.delete(id);
    const ids = this.#byCredential.get(entry.capKey);
    ids?.delete(id);
    if (ids?.size === 0) this.#byCredential.delete(entry.capKey);
    const { shared } = entry;
    if (shared && --shared.users === 0) this.#shared.delete(shared.key);
  }

  /**
   * Makes room for a new session in its cap group: while the group holds the most live sessions
   * allowed, its least recently active one is removed. Returns the ids removed, whose end the
   * caller announces.
   */
  #makeRoom(capKey: string, now: number): string[] {
    const max = perCredentialCap(this.limits);
    if (max === undefined) return [];
    // Credentials nobody checked count among every live session, as in the database store.
    const ids = capKey === ALL ? new Set(this.#sessions.keys()) : this.#byCredential.get(capKey);
    if (ids === undefined || ids.size < max) return [];
    // Expired and idle sessions do not count: sweep the group's before deciding.
    const expired: number[] = [];
    for (const id of ids) {
      const entry = this.#sessions.get(id)!;
      if (!isLive(entry, now, this.limits)) {
        this.#forget(id, entry);
        ids.delete(id);
        expired.push(livedSeconds(entry.createdAt, usableUntil(entry, this.limits)));
      }
    }
    sessionsEnded('expired', expired);
    const evicted: string[] = [];
    const evictedLived: number[] = [];
    while (ids.size >= max) {
      // The first of equals is the oldest: sets iterate in insertion order.
      let oldest: [string, Entry] | undefined;
      for (const id of ids) {
        const entry = this.#sessions.get(id)!;
        if (!oldest || entry.lastActiveAt < oldest[1].lastActiveAt) oldest = [id, entry];
      }
      this.#forget(...oldest!);
      ids.delete(oldest![0]);
      evicted.push(oldest![0]);
      evictedLived.push(livedSeconds(oldest![1].createdAt, now));
    }
    sessionsEnded('evicted', evictedLived);
    return evicted;
  }

  async create(session: NewSession): Promise<SessionRecord> {
    const now = this.now();
    const { capabilities, info } = negotiatedJson(session, this.limits);
    const capKey = session.capGroup === 'all' ? ALL : session.credentialHash;
    const evicted = this.#makeRoom(capKey, now);
    const previous = this.#sessions.get(session.id);
    if (previous) this.#forget(session.id, previous);
    const entry: Entry = {
      credentialHash: session.credentialHash,
      capKey,
      createdAt: now,
      lastActiveAt: now,
      expiresAt: now + this.limits.ttlMs,
      ...this.#share(session.protocolVersion, capabilities, info),
      state: JSON.stringify(session.state),
    };
    this.#sessions.set(session.id, entry);
    let ids = this.#byCredential.get(capKey);
    if (!ids) this.#byCredential.set(capKey, (ids = new Set()));
    ids.add(session.id);
    for (const id of evicted) await this.channel.publish(sessionTopic(id), SESSION_ENDED);
    return toRecord(session.id, entry);
  }

  #live(id: string, now: number): Entry | undefined {
    const entry = this.#sessions.get(id);
    if (!entry) return undefined;
    if (!isLive(entry, now, this.limits)) {
      this.#forget(id, entry);
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

  endsAt(session: SessionRecord): number {
    return Math.min(session.expiresAt.getTime(), session.lastActiveAt.getTime() + this.limits.idleTimeoutMs);
  }

  async live(id: string): Promise<SessionRecord | undefined> {
    // Only a look: an ended session stays for the cleanup to count, as in the database store.
    const entry = this.#sessions.get(id);
    return entry && isLive(entry, this.now(), this.limits) ? toRecord(id, entry) : undefined;
  }

  async update(id: string, patch: StatePatch, announce?: SessionMessage): Promise<void> {
    const entry = this.#sessions.get(id);
    if (!entry) return;
    const state = JSON.parse(entry.state) as Record<string, unknown>;
    for (const key of patch.unset) delete state[key];
    Object.assign(state, patch.set);
    const merged = JSON.stringify(state);
    checkStateSize(entry.state, merged, this.limits);
    entry.state = merged;
    if (announce) await this.channel.publish(sessionTopic(id), asPayload(announce));
  }

  async remove(id: string, credentialHash: string): Promise<RemoveResult> {
    const entry = this.#live(id, this.now());
    if (!entry) return 'not_found';
    if (!boundTo(entry, credentialHash)) return 'forbidden';
    this.#forget(id, entry);
    sessionsEnded('deleted', [livedSeconds(entry.createdAt, this.now())]);
    await this.channel.publish(sessionTopic(id), SESSION_ENDED);
    return 'ok';
  }

  async cleanup(options: CleanupOptions = {}): Promise<CleanupReport> {
    const started = this.now();
    const lived: number[] = [];
    for (const [id, entry] of this.#sessions) {
      if (!isLive(entry, started, this.limits)) {
        this.#forget(id, entry);
        lived.push(livedSeconds(entry.createdAt, usableUntil(entry, this.limits)));
      }
    }
    const removed = lived.length;
    sessionsEnded('expired', lived);
    const { removed: tasksRemoved } = await this.tasks.sweep(Number.POSITIVE_INFINITY);
    const messagesRemoved = this.channel.sweep();
    // One pass over a map is one "batch"; it cannot be interrupted, so the signal has no effect.
    const durationMs = this.now() - started;
    if (removed > 0) options.onBatch?.({ index: 1, removed, durationMs });
    return { removed, batches: removed > 0 ? 1 : 0, truncated: false, durationMs, messagesRemoved, tasksRemoved };
  }

  async countLive(): Promise<number> {
    const now = this.now();
    let live = 0;
    for (const entry of this.#sessions.values()) if (isLive(entry, now, this.limits)) live++;
    return live;
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

  /** Distinct negotiated values held for sharing (never more than the sessions using them). */
  get sharedSize(): number {
    return this.#shared.size;
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
  return usableUntil(entry, limits) > now;
}

/** When a session stops being usable: its expiry, or its last activity plus the idle timeout. */
function usableUntil(entry: Entry, limits: SessionLimits): number {
  return Math.min(entry.expiresAt, entry.lastActiveAt + limits.idleTimeoutMs);
}

/** Anonymous sessions (created without a credential) may be used by whoever holds the id. */
export function boundTo(record: { credentialHash: string }, credentialHash: string): boolean {
  return record.credentialHash === '' || constantTimeEqual(record.credentialHash, credentialHash);
}
