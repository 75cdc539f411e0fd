// The 2026-07-28 tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`) on the stateless leg:
// a tools/call that becomes a task answers a CreateTaskResult once the record is stored, and
// tasks/get, tasks/update and tasks/cancel read and change that record on any instance. The work
// itself runs in core/task-runner.ts on the instance that created (or resumed) the task.
// tasks/result and tasks/list are removed in this revision: the SDK answers them -32601.
import type { Server, ServerContext } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { Caller } from '../auth/caller.js';
import { ProtocolFault } from '../core/calls.js';
import type { TaskRunner, WaitUntil } from '../core/task-runner.js';
import type { Json } from '../store/channel/types.js';
import type { TaskCaller, TaskRecord, TaskScope, TaskStore } from '../store/tasks/types.js';
import { StoreUnavailableError } from '../store/errors.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** SEP-2575's Missing Required Client Capability. */
const MISSING_CAPABILITY = -32021;

export interface ModernTasksOptions {
  store: TaskStore;
  runner: TaskRunner;
  /** How long a task is kept after its creation. */
  ttlMs: number;
  /** How often clients are asked to poll (`pollIntervalMs`). */
  pollIntervalMs: number;
}

/** Whether the request's envelope declares the extension (`_meta` clientCapabilities.extensions). */
export function declaresTasks(capabilities: unknown): boolean {
  const extensions = (capabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return typeof extensions === 'object' && extensions !== null && extensions[TASKS_EXTENSION] !== undefined;
}

/** -32021 naming the extension, as SEP-2575 shapes `requiredCapabilities`. */
export function tasksRequired(what: string): ProtocolFault {
  return new ProtocolFault(
    MISSING_CAPABILITY,
    `${what} needs the ${TASKS_EXTENSION} extension: declare it in the request's clientCapabilities.extensions`,
    { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
  );
}

/**
 * Where a request notes that the store was away (carried beside the caller in the SDK's authInfo),
 * so that the leg answers 503 with Retry-After, as for every store outage, instead of an error
 * inside the protocol that would say where the database is.
 */
export interface OutageNote {
  error?: StoreUnavailableError;
}

/** Runs a store operation of a request; an outage is noted for the leg and answered without details. */
export async function withStore<T>(ctx: ServerContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    const note = (ctx.http?.authInfo?.extra as { outage?: OutageNote } | undefined)?.outage;
    if (note) note.error = error;
    throw new ProtocolFault(-32603, error.publicMessage);
  }
}

/** The waitUntil the runtime lent this request (Workers; the handler passes it in authInfo), if any. */
export function waitUntilOf(ctx: ServerContext): WaitUntil | undefined {
  return (ctx.http?.authInfo?.extra as { waitUntil?: WaitUntil } | undefined)?.waitUntil;
}

/** Whom a task belongs to: the caller's credential; a 2025 session's tasks are out of reach (no session here). */
export function scopeOf(caller: Caller): TaskScope {
  return { credentialHash: caller.credentialHash, sessionId: null };
}

/** A credential nobody checked (one a caller may make up anew) counts against the cap of all such tasks, as for sessions. */
export function capGroupOf(caller: Caller): 'credential' | 'all' {
  return caller.credentialHash !== '' && caller.principal === undefined ? 'all' : 'credential';
}

/** The Task fields every answer about a task carries. */
function taskFields(task: TaskRecord, pollIntervalMs: number) {
  return {
    taskId: task.id,
    status: task.status,
    ...(task.statusMessage !== undefined && { statusMessage: task.statusMessage }),
    createdAt: task.createdAt.toISOString(),
    lastUpdatedAt: task.updatedAt.toISOString(),
    ttlMs: task.ttlMs,
    pollIntervalMs,
  };
}

/** tools/call's answer when it created a task: flat, no result yet. */
export function createTaskResult(task: TaskRecord, pollIntervalMs: number) {
  return { resultType: 'task' as const, ...taskFields(task, pollIntervalMs) };
}

/**
 * tasks/get's DetailedTask: what the client needs next (the input asked for, the result, the error)
 * inlined. `notifications/tasks` carries the same (SEP-2663: identical to what tasks/get answers).
 */
export function detailedTask(task: TaskRecord, pollIntervalMs: number): Record<string, Json> {
  return {
    ...taskFields(task, pollIntervalMs),
    ...(task.status === 'input_required' && { inputRequests: task.inputRequests }),
    ...(task.status === 'completed' && task.result !== undefined && { result: task.result }),
    ...(task.status === 'failed' && task.error !== undefined && { error: task.error }),
  };
}

const TaskIdParams = z.looseObject({ taskId: z.string() });
const UpdateParams = z.looseObject({ taskId: z.string(), inputResponses: z.record(z.string(), z.unknown()).default({}) });

/** Registers tasks/get, tasks/update and tasks/cancel on a per-request server. */
export function registerTaskMethods(
  server: Server,
  options: ModernTasksOptions,
  who: (ctx: ServerContext) => { caller: Caller; declared: boolean; task: TaskCaller },
): void {
  const { store, runner, pollIntervalMs } = options;
  /** The request's caller, refused unless its envelope declares the extension. */
  const gate = (method: string, ctx: ServerContext) => {
    const request = who(ctx);
    if (!request.declared) throw tasksRequired(method);
    return request;
  };
  const unknown = (taskId: string) => new ProtocolFault(-32602, `Unknown task: ${taskId}`);

  server.setRequestHandler('tasks/get', { params: TaskIdParams }, async (params, ctx) => {
    const { caller } = gate('tasks/get', ctx);
    const task = await withStore(ctx, () => store.get(params.taskId, scopeOf(caller)));
    if (!task) throw unknown(params.taskId);
    return detailedTask(task, pollIntervalMs);
  });

  server.setRequestHandler('tasks/update', { params: UpdateParams }, async (params, ctx) => {
    const { caller, task: taskCaller } = gate('tasks/update', ctx);
    // The SDK lifts `inputResponses` out of the params of every request (multi-round-trip).
    const responses = (ctx.mcpReq.inputResponses ?? params.inputResponses) as Record<string, Json>;
    const claim = { owner: runner.owner, ms: runner.leaseMs };
    // Whoever answered is whom the handler runs for from now on, here or after a takeover.
    const answered = await withStore(ctx, () => store.respond(params.taskId, scopeOf(caller), responses, claim, taskCaller));
    if (!answered) throw unknown(params.taskId);
    // Every request answered and the lease taken here: the task goes on on this instance.
    if (answered.resumed) void runner.start(answered.task, waitUntilOf(ctx));
    return {};
  });

  server.setRequestHandler('tasks/cancel', { params: TaskIdParams }, async (params, ctx) => {
    const { caller } = gate('tasks/cancel', ctx);
    // The store publishes the cancel on the task's topic: the instance running it stops it.
    if (!(await withStore(ctx, () => store.cancel(params.taskId, scopeOf(caller))))) throw unknown(params.taskId);
    return {};
  });
}
