// The contract between the session layer and where sessions are kept. The session layer uses
// exactly these calls, in the same way, whatever the store: one call per request to open a
// session, at most one more to write changed state back.
import type { ClientCapabilities, Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { Channel } from './channel/types.js';
import type { SessionMessage } from './channel/topics.js';
import type { TaskStore } from './tasks/types.js';

/** What `initialize` negotiated: enough to restore a server to the same state later. */
export interface Negotiated {
  protocolVersion: string;
  clientCapabilities: ClientCapabilities;
  clientInfo: Implementation;
}

export interface SessionRecord extends Negotiated {
  id: string;
  /** Hash of the credential that created the session; '' for an anonymous session. */
  credentialHash: string;
  createdAt: Date;
  lastActiveAt: Date;
  /** Absolute end of life (creation + ttl). */
  expiresAt: Date;
  /** Everything else: logging level, subscriptions, enrichment dedup, ... Flat keys. */
  state: Record<string, unknown>;
}

export interface NewSession extends Omit<SessionRecord, 'createdAt' | 'lastActiveAt' | 'expiresAt'> {
  /**
   * Which live sessions the per-credential cap counts this one among: those of its credential
   * (the default; anonymous sessions share ''), or all of them, for a credential nobody checked
   * (no API keys or JWT configured), which a caller could make up anew for every session.
   */
  capGroup?: 'credential' | 'all';
}

/** Keys to set and keys to remove; merged into the stored state, never replacing it. */
export interface StatePatch {
  set: Record<string, unknown>;
  unset: string[];
}

export type OpenResult =
  /** `at`: the store's clock when the session was opened (microseconds), for channel subscriptions. */
  { status: 'ok'; session: SessionRecord; at: number } | { status: 'not_found' } | { status: 'forbidden' };

export type RemoveResult = 'ok' | 'not_found' | 'forbidden';

export interface SessionLimits {
  /** Absolute lifetime from creation, ms. */
  ttlMs: number;
  /** Longest allowed gap between requests, ms. */
  idleTimeoutMs: number;
  /** Largest capabilities + clientInfo (JSON, bytes) a new session stores; unset: no bound. */
  maxInitializeBytes?: number;
  /**
   * Live sessions one credential may hold (anonymous sessions count as one); unset or 0: no limit.
   * A new session past it ends the least recently active session of the same credential.
   */
  maxPerCredential?: number;
  /** Resources one session may subscribe to (checked by the session layer); unset or 0: no limit. */
  maxSubscriptions?: number;
  /** Largest session state (JSON, bytes) a write may leave; unset: no bound. */
  maxStateBytes?: number;
  /**
   * Open tasks (working or waiting for input) one credential may hold; unset or 0: no limit. A new
   * task past it is refused (TaskRefusedError), never one ended to make room.
   */
  maxOpenTasksPerCredential?: number;
}

export interface CleanupOptions {
  /** Rows deleted per statement. */
  batchSize?: number;
  /** Stop starting new batches after this long, ms. */
  budgetMs?: number;
  /** Stop starting new batches once aborted (shutdown); the batch running finishes. */
  signal?: AbortSignal;
  /** Called after each batch (progress output, benchmarks). */
  onBatch?: (batch: CleanupBatch) => void;
}

export interface CleanupBatch {
  /** 1-based. */
  index: number;
  removed: number;
  durationMs: number;
}

export interface CleanupReport {
  removed: number;
  batches: number;
  /** True when it stopped because the budget ran out, not because nothing was left. */
  truncated: boolean;
  durationMs: number;
  /** Channel messages past their retention removed in the same run. */
  messagesRemoved?: number;
  /** Tasks past their ttl removed in the same run. */
  tasksRemoved?: number;
}

export interface SessionSummary {
  id: string;
  bound: boolean;
  createdAt: Date;
  lastActiveAt: Date;
  expiresAt: Date;
}

export interface SessionStore {
  readonly kind: 'memory' | 'database';
  readonly limits: SessionLimits;
  /** How instances sharing this store send each other messages (src/store/channel/). */
  readonly channel: Channel;
  /** Tasks, kept with the sessions and swept by the same cleanup (src/store/tasks/). */
  readonly tasks: TaskStore;
  /**
   * Resolves once the store can serve (the database store: migration check done). Long-running
   * servers call it at start-up, before they report ready; other runtimes let the first request
   * pay for it.
   */
  ready?(): Promise<void>;
  /**
   * Stores a new session; its lifetime starts now. Throws SessionRefusedError (and stores nothing)
   * when the limits refuse it. When its credential holds the most live sessions allowed, the least
   * recently active of them is removed to make room, and its end announced as `remove` does.
   */
  create(session: NewSession): Promise<SessionRecord>;
  /**
   * Validates (exists, not expired, not idle, bound to this credential or anonymous), marks it
   * active and loads it, as one step. A foreign credential gets 'forbidden' and changes nothing.
   */
  open(id: string, credentialHash: string): Promise<OpenResult>;
  /**
   * When a session ends unless it is used again, in milliseconds since the epoch on the store's
   * clock: the earlier of its lifetime and its idle limit, for a record this store gave.
   */
  endsAt(session: SessionRecord): number;
  /** The session as stored while it is live (not expired, not idle), without counting as activity. One statement. */
  live(id: string): Promise<SessionRecord | undefined>;
  /**
   * Merges changed state keys into the stored session; with `announce`, publishes it on the
   * session's topic in the same statement (the streams of the session hear of the change at no
   * extra round trip). Throws SessionRefusedError, storing and announcing nothing, when the merged
   * state would be larger than `maxStateBytes` and larger than it was.
   */
  update(id: string, patch: StatePatch, announce?: SessionMessage): Promise<void>;
  /**
   * Removes a session (DELETE), with the same binding rule as `open`, and announces its end on the
   * channel (in the same statement), so that every instance stops what the session runs.
   */
  remove(id: string, credentialHash: string): Promise<RemoveResult>;
  /**
   * Deletes expired and idle sessions, then tasks past their ttl, then channel messages past their
   * retention, in bounded batches. `truncated` (budget or signal) means more may be left.
   */
  cleanup(options?: CleanupOptions): Promise<CleanupReport>;
  /** For operators: live sessions, newest activity first. */
  list(limit?: number): Promise<SessionSummary[]>;
  /** How many sessions are live (not expired, not idle), for the live sessions gauge. One statement. */
  countLive(): Promise<number>;
  /**
   * A secret every instance on this store shares: the stored one, or `made` stored by whoever
   * asks first (instances racing for it all end up with the same one). The memory store keeps it
   * for the process.
   */
  sharedSecret(name: string, made: string): Promise<string>;
  close(): Promise<void>;
}
