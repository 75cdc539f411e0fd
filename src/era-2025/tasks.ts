// The 2025-11-25 experimental tasks for 2025 sessions, served from the same records as the
// 2026-07-28 extension (src/store/tasks/) and run by the same runner (src/core/task-runner.ts):
// a tools/call carrying `task` answers a CreateTaskResult once the record is stored; tasks/get,
// tasks/result, tasks/list and tasks/cancel read and change that record on any instance. Every
// task here belongs to its session: another session, another credential, or a 2026-07-28 request
// (which names no session) gets what an unknown task gets.
//
// What the 2025-11-25 revision shows differently from the record:
// - a tool result with `isError` is `failed` there (the record keeps `completed` with the result,
//   as 2026-07-28 wants it); tasks/result answers that result either way;
// - tasks/result blocks until the task is terminal, waiting on the task's channel topic, so that
//   it works on any instance; a task waiting for input has its requests sent to the client on that
//   request's stream, each naming the task (`io.modelcontextprotocol/related-task`), and the
//   answers go to the record as tasks/update's would, which continues the task on this instance;
// - tasks/cancel refuses a task that is already terminal (-32602) and answers the task.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  type CallToolRequest,
  type CreateTaskResult,
  type GetTaskResult,
  type ListTasksResult,
  RELATED_TASK_META_KEY,
  type ServerResult,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from '../auth/caller.js';
import { beforeTask, FaultCode, ProtocolFault } from '../core/calls.js';
import { type HandlerContext, type InputRequests, type InputResponses, isInputRequired } from '../core/define.js';
import type { Registry } from '../core/registry.js';
import type { TaskRunner, WaitUntil } from '../core/task-runner.js';
import { taskTopic } from '../store/channel/topics.js';
import type { Channel, Json } from '../store/channel/types.js';
import { StoreUnavailableError } from '../store/errors.js';
import { isTerminal, type TaskCaller, type TaskRecord, type TaskScope, type TaskStore } from '../store/tasks/types.js';
import { ask, type Extra, newRound, withInput } from './input.js';
import { taskCreated } from '../telemetry/tasks.js';
import { STATE_KEYS } from './state-keys.js';
import type { SessionState } from '../core/session-state.js';

export interface SessionTasksOptions {
  store: TaskStore;
  runner: TaskRunner;
  /** Where the task's changes are heard (tasks/result waits on it). */
  channel: Channel;
  /** How long a task is kept after its creation, at most (a client may ask for less). */
  ttlMs: number;
  /** How often clients are asked to poll (`pollInterval`). */
  pollIntervalMs: number;
  /** Tasks one tasks/list page holds. */
  pageSize?: number;
}

/** What the server declares in initialize when some tool may become a task. */
export const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

/** The shortest ttl granted: a task must outlive a poll or two. */
const MIN_TTL_MS = 1_000;
const DEFAULT_PAGE_SIZE = 50;
/** Tasks of one session whose status changes its stream announces (the newest). */
const MAX_WATCHED_TASKS = 32;

/** Who asks, in a session: the caller, its session, and what a task it starts or continues knows of it. */
export interface TaskRequester {
  caller: Caller;
  sessionId: string;
  task: TaskCaller;
  /** The runtime's waitUntil (Workers): the run of a task this request starts or resumes is handed to it. */
  waitUntil?: WaitUntil;
}

/** Whether any tool of the registry may become a task (then the capability is declared). */
export function offersTasks(registry: Pick<Registry, 'tools'>): boolean {
  return [...registry.tools.values()].some((tool) => tool.task.support !== 'never');
}

/** Tools as a 2025-11-25 client sees them: `execution.taskSupport` from each tool's declaration. */
export function toolsWithTaskSupport(registry: Pick<Registry, 'tools' | 'toolList'>): ServerResult {
  return {
    tools: registry.toolList.map((tool) => {
      const support = registry.tools.get(tool.name)?.task.support ?? 'never';
      return support === 'never' ? tool : { ...tool, execution: { ...tool.execution, taskSupport: support } };
    }),
  };
}

export class SessionTasks {
  readonly #options: SessionTasksOptions;
  readonly #registry: Registry;

  constructor(registry: Registry, options: SessionTasksOptions) {
    this.#registry = registry;
    this.#options = options;
  }

  /**
   * A tools/call of a session, with or without `task`: undefined when the call is answered in the
   * request as always; otherwise the CreateTaskResult (or the refusal the revision asks for).
   */
  async call(
    params: CallToolRequest['params'],
    who: TaskRequester,
    server: Server,
    extra: Extra,
    ctx: HandlerContext,
  ): Promise<ServerResult | undefined> {
    const support = this.#registry.tools.get(params.name)?.task.support;
    if (params.task === undefined) {
      if (support !== 'required') return undefined;
      throw new ProtocolFault(FaultCode.MethodNotFound, `Tool ${params.name} runs only as a task: call it with the task parameter`);
    }
    if (support === undefined) throw new ProtocolFault(FaultCode.InvalidParams, `Unknown tool: ${params.name}`);
    if (support === 'never') throw new ProtocolFault(FaultCode.MethodNotFound, `Tool ${params.name} does not run as a task`);
    // Input the tool gathers before its task exists is asked for in this request, as for a call.
    let gathered: InputResponses | undefined;
    const before = await withInput(server, extra, ctx, async (round) => {
      gathered = round.inputResponses;
      const found = await beforeTask(this.#registry, params, round);
      if (!('answer' in found)) return { args: found.args, refused: undefined };
      if (isInputRequired(found.answer)) return found.answer;
      return { args: {}, refused: found.answer };
    });
    if (before.refused) {
      const text = before.refused.content.map((c) => (c.type === 'text' ? c.text : '')).join(' ');
      throw new ProtocolFault(FaultCode.InvalidParams, text || `Invalid arguments for tool ${params.name}`);
    }
    const { store, runner } = this.#options;
    const ttlMs = Math.min(this.#options.ttlMs, Math.max(MIN_TTL_MS, params.task.ttl ?? this.#options.ttlMs));
    const record = await storing(() =>
      store.create({
        credentialHash: who.caller.credentialHash,
        sessionId: who.sessionId,
        capGroup: who.caller.credentialHash !== '' && who.caller.principal === undefined ? 'all' : 'credential',
        tool: params.name,
        arguments: before.args as Record<string, Json>,
        ttlMs,
        rerunnable: this.#registry.tools.get(params.name)!.task.rerunnable,
        lease: { owner: runner.owner, ms: runner.leaseMs },
        caller: who.task,
        ...(gathered && { inputResponses: gathered as unknown as Record<string, Json> }),
      }),
    );
    taskCreated(record);
    void runner.start(record, who.waitUntil);
    if (ctx.session) watchStatus(ctx.session, record);
    return { task: this.#task(record) } satisfies CreateTaskResult;
  }

  async get(taskId: string, who: TaskRequester): Promise<ServerResult> {
    return this.#task(await this.#find(taskId, who)) satisfies GetTaskResult;
  }

  /** The session's tasks, newest first; a cursor is the last task of the previous page. */
  async list(cursor: string | undefined, who: TaskRequester): Promise<ServerResult> {
    const { store } = this.#options;
    const scope = scopeOf(who);
    // A cursor names a task of this session: anything else was not given by this server.
    if (cursor !== undefined && !(await storing(() => store.get(cursor, scope)))) {
      throw new ProtocolFault(FaultCode.InvalidParams, 'Invalid cursor: it names no task of this session');
    }
    const page = await storing(() =>
      store.list(scope, { limit: this.#options.pageSize ?? DEFAULT_PAGE_SIZE, ...(cursor !== undefined && { cursor }) }),
    );
    return {
      tasks: page.tasks.map((task) => this.#task(task)),
      ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }),
    } satisfies ListTasksResult;
  }

  async cancel(taskId: string, who: TaskRequester): Promise<ServerResult> {
    const found = await this.#find(taskId, who);
    if (isTerminal(found.status)) throw alreadyTerminal(this.#task(found).status);
    // The store publishes the cancel on the task's topic: the instance running it stops it.
    const task = await storing(() => this.#options.store.cancel(taskId, scopeOf(who), 'The task was cancelled by request.'));
    if (!task) throw unknownTask(taskId);
    // Finished meanwhile: it stays what it became.
    if (task.status !== 'cancelled') throw alreadyTerminal(this.#task(task).status);
    return this.#task(task);
  }

  /**
   * What the call would have answered, once the task is terminal (waiting for that on the task's
   * topic, heard from any instance); input the task waits for is asked for on this request's stream.
   */
  async result(taskId: string, who: TaskRequester, server: Server, extra: Extra): Promise<ServerResult> {
    const { store, runner, channel } = this.#options;
    const scope = scopeOf(who);
    for (;;) {
      // Listening before reading: a change between the read and the wait is not missed.
      const change = nextMessage(channel, taskTopic(taskId), extra.signal);
      try {
        const task = await storing(() => store.get(taskId, scope));
        if (!task) throw unknownTask(taskId);
        if (isTerminal(task.status)) return outcome(task);
        if (task.status === 'input_required' && Object.keys(task.inputRequests).length > 0) {
          const responses = await ask(server, extra, newRound(task.inputRequests as unknown as InputRequests), { taskId });
          const claim = { owner: runner.owner, ms: runner.leaseMs };
          const answered = await storing(() => store.respond(taskId, scope, responses as unknown as Record<string, Json>, claim, who.task));
          if (!answered) throw unknownTask(taskId);
          // Every request answered and the lease taken here: the task goes on on this instance.
          if (answered.resumed) void runner.start(answered.task, who.waitUntil);
          continue;
        }
        await change.next;
      } finally {
        change.stop();
      }
    }
  }

  /** The Task as the 2025-11-25 revision shows it, with this server's poll interval. */
  #task(task: TaskRecord): Task {
    return legacyTask(task, this.#options.pollIntervalMs);
  }

  async #find(taskId: string, who: TaskRequester): Promise<TaskRecord> {
    const task = await storing(() => this.#options.store.get(taskId, scopeOf(who)));
    if (!task) throw unknownTask(taskId);
    return task;
  }
}

/** The Task as the 2025-11-25 revision shows it. */
function legacyTask(task: TaskRecord, pollIntervalMs?: number): Task {
  const toolError = task.status === 'completed' && isToolError(task.result);
  const message = task.statusMessage ?? (toolError ? textOf(task.result) : task.status === 'failed' ? errorMessage(task.error) : undefined);
  return {
    taskId: task.id,
    status: toolError ? 'failed' : task.status,
    ...(message !== undefined && { statusMessage: message }),
    createdAt: task.createdAt.toISOString(),
    lastUpdatedAt: task.updatedAt.toISOString(),
    ttl: task.ttlMs,
    ...(pollIntervalMs !== undefined && { pollInterval: pollIntervalMs }),
  };
}

/** `notifications/tasks/status` for the task as it is (the session's stream sends it). */
export function taskNotification(task: TaskRecord) {
  return { jsonrpc: '2.0' as const, method: 'notifications/tasks/status' as const, params: legacyTask(task) };
}

/**
 * Records the task in session state, so that the session's stream, on any instance, announces its
 * status changes (./streams.ts); the newest MAX_WATCHED_TASKS unexpired ones are kept.
 */
function watchStatus(session: SessionState, task: TaskRecord): void {
  const now = Date.now();
  session.set(STATE_KEYS.taskPrefix + task.id, task.expiresAt.getTime());
  const watched = session.entries<number>(STATE_KEYS.taskPrefix).sort(([, a], [, b]) => b - a);
  for (const [index, [id, expires]] of watched.entries()) {
    if (index >= MAX_WATCHED_TASKS || typeof expires !== 'number' || expires <= now) session.delete(STATE_KEYS.taskPrefix + id);
  }
}

/** A session's reach: its credential and itself. */
function scopeOf(who: TaskRequester): TaskScope {
  return { credentialHash: who.caller.credentialHash, sessionId: who.sessionId };
}

/** What tasks/result answers for a terminal task: the call's result, its error, or the cancel. */
function outcome(task: TaskRecord): ServerResult {
  const related = { [RELATED_TASK_META_KEY]: { taskId: task.id } };
  if (task.status === 'completed') {
    const result = (task.result ?? {}) as { _meta?: Record<string, unknown> };
    return { ...result, _meta: { ...result._meta, ...related } } as ServerResult;
  }
  if (task.status === 'failed') {
    const error = (task.error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
    throw new ProtocolFault(
      Number.isSafeInteger(error.code) ? (error.code as number) : FaultCode.InternalError,
      typeof error.message === 'string' ? error.message : 'The task failed',
      error.data,
    );
  }
  throw new ProtocolFault(FaultCode.InternalError, `Task ${task.id} was cancelled before it completed; it has no result`);
}

/**
 * The next message of a topic, or the abort of `signal`: subscribed at once, so that what is
 * published after this call is heard. `stop` lets go of the subscription.
 */
function nextMessage(channel: Channel, topic: string, signal: AbortSignal): { next: Promise<void>; stop: () => void } {
  let stop = () => {};
  const next = new Promise<void>((resolve, reject) => {
    const aborted = () => reject(new ProtocolFault(FaultCode.InternalError, 'tasks/result was cancelled'));
    const subscription = channel.subscribe(topic, () => resolve());
    signal.addEventListener('abort', aborted, { once: true });
    stop = () => {
      subscription.unsubscribe();
      signal.removeEventListener('abort', aborted);
    };
  });
  // Only awaited when nothing else answered first; a rejection then is not a stray one.
  next.catch(() => {});
  return { next, stop };
}

/** Runs a store operation; an outage is answered without saying where the database is. */
async function storing<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw new ProtocolFault(FaultCode.InternalError, error.publicMessage);
    throw error;
  }
}

function unknownTask(taskId: string): ProtocolFault {
  return new ProtocolFault(FaultCode.InvalidParams, `Failed to retrieve task: Task not found (${taskId.slice(0, 64)})`);
}

function alreadyTerminal(status: string): ProtocolFault {
  return new ProtocolFault(FaultCode.InvalidParams, `Cannot cancel task: already in terminal status '${status}'`);
}

function isToolError(result: Json | undefined): boolean {
  return typeof result === 'object' && result !== null && !Array.isArray(result) && result.isError === true;
}

/** The text of a tool result, for a failed task's status message. */
function textOf(result: Json | undefined): string | undefined {
  const content = (result as { content?: { type?: string; text?: string }[] } | undefined)?.content ?? [];
  const text = content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join(' ');
  return text === '' ? undefined : text;
}

function errorMessage(error: Json | undefined): string | undefined {
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}
