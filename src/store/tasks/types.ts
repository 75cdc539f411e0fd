// The contract between the task layers (both eras' task methods, the runner, takeover) and where
// tasks are kept. Every operation is one statement on the database store, and each one that
// changes what a client can see of a task announces it on the task's topic in that statement
// (src/store/channel/topics.ts: `taskTopic`), so that the instance running the task, or a stream
// waiting for it, hears of it wherever it is.
//
// Rules both stores apply alike:
// - A task is seen only with the credential (and, for a 2025 task, the session) that created it;
//   anything else gets what an unknown task gets: nothing.
// - A terminal task (completed, failed, cancelled) never changes again.
// - Only the instance holding a task's lease writes its progress and outcome; a lease that ran
//   out can be claimed by another instance, after which the first one's writes are refused.
// - A task is gone once its ttl (from creation) has passed; the cleanup deletes it.
import type { ClientCapabilities, Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../../auth/caller.js';
import type { Json } from '../channel/types.js';

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

export const TERMINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/**
 * What a task's handler knows of whoever created or last continued the task. Kept with the task:
 * an instance that takes it over has no request to learn it from.
 */
export interface TaskCaller {
  principal: Principal | undefined;
  clientCapabilities: ClientCapabilities | undefined;
  clientInfo: Implementation | undefined;
}

/**
 * `task`: a task a client created, which the takeover's search may claim once its lease ran out.
 * `call`: a 2025 call a draining instance handed over (src/era-2025/handover.ts); only the
 * instance serving its resumed stream goes on with it, claiming it by id, so the search skips it.
 */
export type TaskKind = 'task' | 'call';

/** A count per status, each 0. */
export function noTasks(): Record<TaskStatus, number> {
  return { working: 0, input_required: 0, completed: 0, failed: 0, cancelled: 0 };
}

export interface TaskLease {
  /** The instance running the task (the id it claims leases with). */
  owner: string;
  expiresAt: Date;
}

export interface TaskRecord {
  /** Unguessable: 256 random bits, base64url. */
  id: string;
  credentialHash: string;
  /** The 2025 session the task belongs to; undefined for a 2026-07-28 task. */
  sessionId: string | undefined;
  tool: string;
  arguments: Record<string, Json>;
  status: TaskStatus;
  statusMessage: string | undefined;
  /** The tool's result, once completed (a tool error is a result with `isError`). */
  result: Json | undefined;
  /** A JSON-RPC error object, once failed. */
  error: Json | undefined;
  /** Requests to the client not answered yet, by the key the server gave each. */
  inputRequests: Record<string, Json>;
  /** Every answer received so far, by key: what a re-run or a continuation starts from. */
  inputResponses: Record<string, Json>;
  ttlMs: number;
  createdAt: Date;
  updatedAt: Date;
  /** createdAt + ttlMs: unseen and swept after it. */
  expiresAt: Date;
  /** Undefined when no instance holds the task (waiting for input, released, or finished). */
  lease: TaskLease | undefined;
  /** May run again from its start when its instance is gone; otherwise it fails then. */
  rerunnable: boolean;
  /** Times the task was started: 1, plus one per takeover. */
  attempts: number;
  /** `task` (a client's), or `call`: a 2025 call handed over in a drain (see TaskKind). */
  kind: TaskKind;
  /** Whom the handler runs for (the creator, or the caller whose answers continued it last). */
  caller: TaskCaller;
}

/** Who may see a task: its credential, and for a 2025 task its session. */
export interface TaskScope {
  credentialHash: string;
  /**
   * A 2025 session: only its own tasks. `null`: only tasks of no session (a 2026-07-28 request,
   * which names no session, sees no 2025 task). Undefined: every task of the credential.
   */
  sessionId?: string | null;
}

/** Operators (`baton tasks ...`) see every task. */
export type TaskReach = TaskScope | 'all';

export interface NewTask extends Omit<TaskScope, 'sessionId'> {
  /** The 2025 session the task belongs to; absent for a 2026-07-28 task. */
  sessionId?: string;
  /**
   * Which open tasks the per-credential cap counts this one among: those of its credential (the
   * default), or all of them, for a credential nobody checked (one a caller can make up anew for
   * every task), as for sessions.
   */
  capGroup?: 'credential' | 'all';
  tool: string;
  arguments: Record<string, Json>;
  ttlMs: number;
  rerunnable: boolean;
  /** The creating instance takes the lease at once, for this long. */
  lease: { owner: string; ms: number };
  /** Answers the client gave before the task existed (input gathered in the request). */
  inputResponses?: Record<string, Json>;
  /** `task` unless said otherwise. */
  kind?: TaskKind;
  statusMessage?: string;
  /** Whom the handler runs for, on this instance or on one that takes the task over. */
  caller: TaskCaller;
}

/** Progress or outcome written by the lease holder. */
export type TaskOutcome =
  | { status: 'working'; statusMessage?: string }
  | { status: 'completed'; result: Json; statusMessage?: string }
  | { status: 'failed'; error: Json; statusMessage?: string }
  /** The handler stopped because the task was cancelled. */
  | { status: 'cancelled'; statusMessage?: string };

/** Which tasks a list returns, a page at a time. */
export interface TaskListOptions {
  /** Tasks per page; default 100. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  /** Only tasks in one of these statuses (an empty list matches none). */
  status?: readonly TaskStatus[];
  /** Only tasks of this tool. */
  tool?: string;
}

export interface TaskPage {
  tasks: TaskRecord[];
  /** Pass back to get the next page; absent on the last page. */
  nextCursor?: string;
}

export interface RespondResult {
  task: TaskRecord;
  /** Keys of `responses` that answered a pending request (others were ignored). */
  accepted: string[];
  /**
   * Every request is answered, and the caller's instance took the lease (`claimAs`): it continues
   * the task. False when input is still missing, or another instance holds a live lease.
   */
  resumed: boolean;
}

export interface TaskCleanup {
  removed: number;
  /** True when a batch was full: more may be left. */
  more: boolean;
}

export interface TaskStore {
  /**
   * Stores a new `working` task leased to its creator, before its id is given to anyone. Throws
   * TaskRefusedError (and stores nothing) when its credential already has the most open tasks
   * allowed (`maxOpenTasksPerCredential`).
   */
  create(task: NewTask): Promise<TaskRecord>;
  /** The task, if it exists, has not expired and is within reach; otherwise undefined. */
  get(id: string, reach: TaskReach): Promise<TaskRecord | undefined>;
  /** Tasks within reach that pass the filters, newest first; `cursor` continues a previous page. */
  list(reach: TaskReach, options?: TaskListOptions): Promise<TaskPage>;
  /**
   * Progress or outcome by the lease holder. Undefined, and nothing changed, when `owner` does not
   * hold the lease or the task is already terminal. A terminal outcome ends the lease.
   */
  settle(id: string, owner: string, outcome: TaskOutcome): Promise<TaskRecord | undefined>;
  /**
   * The holder asks the client for input: the requests join the pending ones and the task becomes
   * `input_required`. Unless `keepLease`, the lease is let go, so that the task waits in the
   * store alone and the instance that receives the answers continues it. Undefined as `settle`.
   */
  requestInput(
    id: string,
    owner: string,
    requests: Record<string, Json>,
    options?: { statusMessage?: string; keepLease?: boolean },
  ): Promise<TaskRecord | undefined>;
  /**
   * The client's answers (tasks/update): those that answer a pending request are recorded and
   * that request leaves `inputRequests`; others are ignored. While any request is pending the task
   * stays `input_required`; once none is, it is `working` again and, with `claimAs`, leased to that
   * instance unless another one holds a live lease. When an answer is accepted, `caller` (if given)
   * becomes whom the handler runs for from then on. Undefined for a task out of reach; a task that
   * is not waiting for input is returned unchanged.
   */
  respond(
    id: string,
    reach: TaskReach,
    responses: Record<string, Json>,
    claimAs?: { owner: string; ms: number },
    caller?: TaskCaller,
  ): Promise<RespondResult | undefined>;
  /**
   * Cancels a task that is not terminal; a terminal one is returned as it is (cancel is
   * idempotent). Undefined for a task out of reach.
   */
  cancel(id: string, reach: TaskReach, statusMessage?: string): Promise<TaskRecord | undefined>;
  /**
   * Takes over `working` tasks that nobody holds or whose lease ran out (the task `id`, of either
   * kind, or up to `limit` of kind `task`), leasing them to `owner` and counting an attempt.
   * Returns the tasks taken.
   */
  claim(owner: string, ms: number, which: { id: string } | { limit: number }): Promise<TaskRecord[]>;
  /**
   * Extends every lease `owner` holds on an unfinished task; returns the ids still held (a task
   * missing from it was cancelled, finished or taken over: its handler should stop).
   */
  renew(owner: string, ms: number): Promise<string[]>;
  /** Lets go of `owner`'s leases (all, or the given tasks), so that another instance may claim them at once (a drain). */
  release(owner: string, ids?: string[]): Promise<number>;
  /** Tasks (kind `task`: not handed-over calls) not expired, by status (every status, 0 when none): the baton.tasks gauge, one statement. */
  countByStatus(): Promise<Record<TaskStatus, number>>;
  /** Deletes up to `batchSize` expired tasks (the store's cleanup calls it). */
  sweep(batchSize: number): Promise<TaskCleanup>;
}
