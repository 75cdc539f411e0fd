// Tasks in this process's memory (the memory store): the same rules as the database store
// (src/store/tasks/types.ts), so switching stores changes durability only. Records are copied in
// and out, as a database would, so no caller shares the stored objects.
import { constantTimeEqual } from '../../auth/credential.js';
import type { InProcessChannel } from '../channel/in-process.js';
import { asPayload, taskTopic } from '../channel/topics.js';
import type { Json } from '../channel/types.js';
import { openTasksCap, tooManyTasks } from '../limits.js';
import type { SessionLimits } from '../types.js';
import { unguessableId } from '../ids.js';
import {
  isTerminal,
  noTasks,
  type NewTask,
  type RespondResult,
  type TaskCaller,
  type TaskCleanup,
  type TaskListOptions,
  type TaskOutcome,
  type TaskPage,
  type TaskReach,
  type TaskRecord,
  type TaskStatus,
  type TaskStore,
} from './types.js';

export class MemoryTaskStore implements TaskStore {
  /** In creation order: lists read it backwards. */
  readonly #tasks = new Map<string, TaskRecord>();

  constructor(
    private readonly limits: SessionLimits,
    private readonly now: () => number,
    private readonly channel: InProcessChannel,
  ) {}

  async create(task: NewTask): Promise<TaskRecord> {
    const now = this.now();
    const max = openTasksCap(this.limits);
    if (max !== undefined) {
      let open = 0;
      for (const t of this.#tasks.values()) {
        const counted = task.capGroup === 'all' || t.credentialHash === task.credentialHash;
        if (counted && !isTerminal(t.status) && this.#alive(t, now)) open++;
      }
      if (open >= max) throw tooManyTasks(max);
    }
    const record: TaskRecord = {
      id: unguessableId(),
      credentialHash: task.credentialHash,
      sessionId: task.sessionId,
      tool: task.tool,
      arguments: structuredClone(task.arguments),
      status: 'working',
      statusMessage: task.statusMessage,
      result: undefined,
      error: undefined,
      inputRequests: {},
      inputResponses: structuredClone(task.inputResponses ?? {}),
      ttlMs: Math.round(task.ttlMs),
      createdAt: new Date(now),
      updatedAt: new Date(now),
      expiresAt: new Date(now + Math.round(task.ttlMs)),
      lease: { owner: task.lease.owner, expiresAt: new Date(now + task.lease.ms) },
      rerunnable: task.rerunnable,
      attempts: 1,
      caller: structuredClone(task.caller),
      kind: task.kind ?? 'task',
    };
    this.#tasks.set(record.id, record);
    return structuredClone(record);
  }

  async get(id: string, reach: TaskReach): Promise<TaskRecord | undefined> {
    const task = this.#reached(id, reach);
    return task && structuredClone(task);
  }

  async list(reach: TaskReach, options: TaskListOptions = {}): Promise<TaskPage> {
    const limit = Math.max(1, options.limit ?? 100);
    const now = this.now();
    const { status, tool } = options;
    const all = [...this.#tasks.values()].filter((t) => this.#alive(t, now) && inReach(t, reach)).reverse();
    const start = options.cursor === undefined ? 0 : all.findIndex((t) => t.id === options.cursor) + 1;
    // An unknown cursor (its task is gone) ends the list, as in the database store; the cursor's
    // task itself need not pass the filters (it may have changed since its page).
    if (options.cursor !== undefined && start === 0) return { tasks: [] };
    const passing = all
      .slice(start)
      .filter((t) => (status === undefined || status.includes(t.status)) && (tool === undefined || t.tool === tool));
    const found = passing.slice(0, limit).map((t) => structuredClone(t));
    return passing.length > limit ? { tasks: found, nextCursor: found.at(-1)!.id } : { tasks: found };
  }

  async settle(id: string, owner: string, outcome: TaskOutcome): Promise<TaskRecord | undefined> {
    const task = this.#held(id, owner);
    if (!task) return undefined;
    const ends = outcome.status !== 'working';
    task.status = outcome.status;
    task.statusMessage = outcome.statusMessage;
    task.result = outcome.status === 'completed' ? structuredClone(outcome.result) : undefined;
    task.error = outcome.status === 'failed' ? structuredClone(outcome.error) : undefined;
    if (ends) {
      task.inputRequests = {};
      task.lease = undefined;
    }
    return this.#changed(task);
  }

  async requestInput(
    id: string,
    owner: string,
    requests: Record<string, Json>,
    options: { statusMessage?: string; keepLease?: boolean } = {},
  ): Promise<TaskRecord | undefined> {
    const task = this.#held(id, owner);
    if (!task) return undefined;
    task.status = 'input_required';
    task.statusMessage = options.statusMessage;
    task.inputRequests = { ...task.inputRequests, ...structuredClone(requests) };
    if (options.keepLease !== true) task.lease = undefined;
    return this.#changed(task);
  }

  async respond(
    id: string,
    reach: TaskReach,
    responses: Record<string, Json>,
    claimAs?: { owner: string; ms: number },
    caller?: TaskCaller,
  ): Promise<RespondResult | undefined> {
    const task = this.#reached(id, reach);
    if (!task) return undefined;
    const accepted = task.status === 'input_required' ? Object.keys(responses).filter((key) => Object.hasOwn(task.inputRequests, key)) : [];
    if (accepted.length === 0) return { task: structuredClone(task), accepted, resumed: false };
    const now = this.now();
    for (const key of accepted) {
      task.inputResponses[key] = structuredClone(responses[key]!);
      delete task.inputRequests[key];
    }
    if (caller !== undefined) task.caller = structuredClone(caller);
    const done = Object.keys(task.inputRequests).length === 0;
    task.status = done ? 'working' : 'input_required';
    const resumed = done && claimAs !== undefined && !leased(task, now);
    if (resumed) task.lease = { owner: claimAs.owner, expiresAt: new Date(now + claimAs.ms) };
    return { task: await this.#changed(task), accepted, resumed };
  }

  async cancel(id: string, reach: TaskReach, statusMessage?: string): Promise<TaskRecord | undefined> {
    const task = this.#reached(id, reach);
    if (!task) return undefined;
    if (isTerminal(task.status)) return structuredClone(task);
    task.status = 'cancelled';
    task.statusMessage = statusMessage;
    task.inputRequests = {};
    task.lease = undefined;
    return this.#changed(task);
  }

  async claim(owner: string, ms: number, which: { id: string } | { limit: number }): Promise<TaskRecord[]> {
    const now = this.now();
    const candidates = 'id' in which ? [this.#tasks.get(which.id)].filter((t) => t !== undefined) : [...this.#tasks.values()];
    const limit = 'id' in which ? 1 : Math.max(1, which.limit);
    const claimed: TaskRecord[] = [];
    for (const task of candidates) {
      if (claimed.length >= limit) break;
      if (task.status !== 'working' || !this.#alive(task, now) || leased(task, now)) continue;
      // The search takes only tasks: a handed-over call waits for the instance its client resumes on.
      if (!('id' in which) && task.kind !== 'task') continue;
      task.lease = { owner, expiresAt: new Date(now + ms) };
      task.attempts++;
      claimed.push(structuredClone(task));
    }
    return claimed;
  }

  async renew(owner: string, ms: number): Promise<string[]> {
    const now = this.now();
    const held: string[] = [];
    for (const task of this.#tasks.values()) {
      if (task.lease?.owner !== owner || isTerminal(task.status) || !this.#alive(task, now)) continue;
      task.lease = { owner, expiresAt: new Date(now + ms) };
      held.push(task.id);
    }
    return held;
  }

  async release(owner: string, ids?: string[]): Promise<number> {
    let released = 0;
    for (const task of this.#tasks.values()) {
      if (task.lease?.owner !== owner || (ids !== undefined && !ids.includes(task.id))) continue;
      task.lease = undefined;
      released++;
    }
    return released;
  }

  async countByStatus(): Promise<Record<TaskStatus, number>> {
    const now = this.now();
    const counts = noTasks();
    for (const task of this.#tasks.values()) if (task.kind === 'task' && this.#alive(task, now)) counts[task.status]++;
    return counts;
  }

  async sweep(batchSize: number): Promise<TaskCleanup> {
    const now = this.now();
    let removed = 0;
    for (const [id, task] of this.#tasks) {
      if (removed >= batchSize) return { removed, more: true };
      if (this.#alive(task, now)) continue;
      this.#tasks.delete(id);
      removed++;
    }
    return { removed, more: false };
  }

  get size(): number {
    return this.#tasks.size;
  }

  #alive(task: TaskRecord, now: number): boolean {
    return task.expiresAt.getTime() > now;
  }

  #reached(id: string, reach: TaskReach): TaskRecord | undefined {
    const task = this.#tasks.get(id);
    return task && this.#alive(task, this.now()) && inReach(task, reach) ? task : undefined;
  }

  /** The task while `owner` holds its lease and it is not finished. */
  #held(id: string, owner: string): TaskRecord | undefined {
    const task = this.#tasks.get(id);
    if (!task || task.lease?.owner !== owner || isTerminal(task.status) || !this.#alive(task, this.now())) return undefined;
    return task;
  }

  /** Stamps a change and announces it on the task's topic. */
  async #changed(task: TaskRecord): Promise<TaskRecord> {
    task.updatedAt = new Date(this.now());
    await this.channel.publish(taskTopic(task.id), asPayload({ kind: 'task', status: task.status }));
    return structuredClone(task);
  }
}

function inReach(task: TaskRecord, reach: TaskReach): boolean {
  if (reach === 'all') return true;
  if (!constantTimeEqual(task.credentialHash, reach.credentialHash)) return false;
  if (reach.sessionId === undefined) return true;
  return reach.sessionId === null ? task.sessionId === undefined : task.sessionId === reach.sessionId;
}

function leased(task: TaskRecord, now: number): boolean {
  return task.lease !== undefined && task.lease.expiresAt.getTime() > now;
}
