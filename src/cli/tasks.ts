// `baton tasks list|show|cancel`: the tasks of every credential, as an operator inspects and
// stops them. As for sessions, ids are shown as prefixes (for a task of an anonymous caller the id
// is all a client needs to read it) and credential hashes never; a task's arguments are shown by
// name and its result summarised, since both are the client's data. Calls handed over in a drain
// are stored as records of kind `call` (src/era-2025/handover.ts): listed too, and named so.
import type { Admin, AdminTask } from '../api/node.js';
import { formatDuration } from '../config/duration.js';
import { isTerminal, type TaskStatus } from '../store/tasks/types.js';
import { EXIT, type Io, notFound, resolveId } from './commands.js';
import { idPrefix, relative, table, timestamp } from './format.js';

export interface TaskListCommandOptions {
  limit: number;
  status?: TaskStatus[];
  tool?: string;
  /** The prefix of the last task of the previous page, as the previous page printed it. */
  after?: string;
  json: boolean;
}

export async function tasksListCommand(admin: Admin, options: TaskListCommandOptions, io: Io): Promise<number> {
  let cursor: string | undefined;
  if (options.after !== undefined) {
    const resolved = await resolveId('task', options.after, true, (prefix, limit) => admin.findTasks(prefix, limit), io);
    if ('exit' in resolved) return resolved.exit;
    cursor = resolved.id;
  }
  const page = await admin.listTasks({
    limit: options.limit,
    ...(cursor !== undefined && { cursor }),
    ...(options.status && { status: options.status }),
    ...(options.tool !== undefined && { tool: options.tool }),
  });
  const after = page.nextCursor === undefined ? null : idPrefix(page.nextCursor);
  if (options.json) {
    io.out(JSON.stringify({ tasks: page.tasks.map(describe), after }, null, 2));
    return EXIT.ok;
  }
  const filters = `${options.status ? ` with status ${orList(options.status)}` : ''}${options.tool !== undefined ? ` of tool ${options.tool}` : ''}`;
  if (page.tasks.length === 0) {
    io.out(`no tasks${filters}`);
    return EXIT.ok;
  }
  const now = Date.now();
  const rows = [['ID', 'KIND', 'STATUS', 'TOOL', 'BINDING', 'CREATED', 'UPDATED', 'LEASE', 'ATTEMPTS']];
  for (const task of page.tasks) {
    rows.push([
      idPrefix(task.id),
      task.kind,
      task.status,
      task.tool,
      binding(task),
      timestamp(task.createdAt),
      relative(task.updatedAt, now),
      task.lease ? `${task.lease.owner} (${leaseEnd(task.lease.expiresAt, now)})` : '-',
      String(task.attempts),
    ]);
  }
  for (const line of table(rows)) io.out(line);
  const more = after === null ? '' : `; there may be more: --after ${after}`;
  io.out(`${page.tasks.length} task(s)${filters}, newest first${more}`);
  return EXIT.ok;
}

export async function tasksShowCommand(admin: Admin, id: string, byPrefix: boolean, json: boolean, io: Io): Promise<number> {
  const resolved = await resolveId('task', id, byPrefix, (prefix, limit) => admin.findTasks(prefix, limit), io);
  if ('exit' in resolved) return resolved.exit;
  const task = await admin.getTask(resolved.id);
  if (!task) {
    io.err(notFound('task', 'show', resolved.id));
    return EXIT.failed;
  }
  if (json) {
    io.out(JSON.stringify(describe(task), null, 2));
    return EXIT.ok;
  }
  const now = Date.now();
  const { result, error } = describe(task);
  const fields: [string, string][] = [
    ['task', idPrefix(task.id)],
    ['kind', KINDS[task.kind]],
    ['status', task.statusMessage === undefined ? task.status : `${task.status}: ${task.statusMessage}`],
    ['tool', `${task.tool} (arguments: ${Object.keys(task.arguments).sort().join(', ') || 'none'})`],
    [
      'binding',
      `${task.bound ? 'bound to a credential' : 'anonymous'}; ${task.sessionId === undefined ? 'a 2026-07-28 task (no session)' : `a 2025 task of session ${idPrefix(task.sessionId)}`}`,
    ],
    ['created', `${timestamp(task.createdAt)} (${relative(task.createdAt, now)})`],
    ['updated', `${timestamp(task.updatedAt)} (${relative(task.updatedAt, now)})`],
    ['expires', `${timestamp(task.expiresAt)} (${relative(task.expiresAt, now)}, ttl ${formatDuration(task.ttlMs)})`],
    ['lease', lease(task, now)],
    ['attempts', String(task.attempts)],
    [
      'rerunnable',
      task.rerunnable ? 'yes: runs again from its start when its instance is gone' : 'no: ends failed if its instance is gone',
    ],
    [
      'input asked',
      Object.entries(describe(task).inputRequests)
        .map(([key, method]) => `${key} (${method})`)
        .join(', ') || 'none',
    ],
    ['input given', Object.keys(task.inputResponses).join(', ') || 'none'],
    ['result', result ? summary(result) : task.status === 'completed' ? 'none' : 'none yet'],
  ];
  if (error) fields.push(['error', `${error.code} ${error.message}`]);
  const width = Math.max(...fields.map(([name]) => name.length));
  for (const [name, value] of fields) io.out(`${name.padEnd(width)}  ${value}`);
  return EXIT.ok;
}

export async function tasksCancelCommand(admin: Admin, id: string, byPrefix: boolean, io: Io): Promise<number> {
  const resolved = await resolveId('task', id, byPrefix, (prefix, limit) => admin.findTasks(prefix, limit), io);
  if ('exit' in resolved) return resolved.exit;
  // Read first only to say what the cancel changed; the cancel itself checks the state again.
  const before = await admin.getTask(resolved.id);
  const task = before && !isTerminal(before.status) ? await admin.cancelTask(resolved.id) : before;
  if (!task) {
    io.err(notFound('task', 'cancel', resolved.id));
    return EXIT.failed;
  }
  if (before === task || task.status !== 'cancelled') {
    io.out(`task ${idPrefix(task.id)} had already ended: ${task.status}; nothing changed`);
  } else {
    io.out(
      `cancelled task ${idPrefix(task.id)} (${task.tool}, was ${before!.status}): the instance running its handler stops it, and its client reads status cancelled`,
    );
  }
  return EXIT.ok;
}

interface ResultSummary {
  contentBlocks: number;
  types: string[];
  isError: boolean;
  structuredContent: boolean;
  /** The first text block, cut at 100 characters. */
  text: string | null;
}

/** What each kind of record is, as `tasks show` says it. */
const KINDS: Record<AdminTask['kind'], string> = {
  task: 'task: its client created it and reads it by id',
  call: 'call handed over in a drain: its client sees no task, and the call goes on where the client resumes its stream',
};

/** A task as the command line prints it in JSON: what `tasks show` says, field for field. */
function describe(task: AdminTask) {
  const requests = task.inputRequests as Record<string, { method?: unknown }>;
  return {
    idPrefix: task.id.slice(0, 8),
    kind: task.kind,
    status: task.status,
    statusMessage: task.statusMessage ?? null,
    tool: task.tool,
    argumentNames: Object.keys(task.arguments).sort(),
    bound: task.bound,
    sessionIdPrefix: task.sessionId === undefined ? null : task.sessionId.slice(0, 8),
    createdAt: task.createdAt.toISOString(),
    updatedAt: task.updatedAt.toISOString(),
    expiresAt: task.expiresAt.toISOString(),
    ttlMs: task.ttlMs,
    lease: task.lease ? { owner: task.lease.owner, expiresAt: task.lease.expiresAt.toISOString() } : null,
    attempts: task.attempts,
    rerunnable: task.rerunnable,
    inputRequests: Object.fromEntries(
      Object.entries(requests).map(([key, request]) => [key, typeof request?.method === 'string' ? request.method : 'unknown']),
    ),
    inputResponseKeys: Object.keys(task.inputResponses),
    result: task.result === undefined ? null : summarise(task.result),
    error: task.error === undefined ? null : errorOf(task.error),
  };
}

function summarise(result: unknown): ResultSummary {
  const { content, isError, structuredContent } = (result ?? {}) as { content?: unknown; isError?: unknown; structuredContent?: unknown };
  const blocks = Array.isArray(content) ? (content as { type?: unknown; text?: unknown }[]) : [];
  const first = blocks.find((block) => block?.type === 'text' && typeof block.text === 'string')?.text as string | undefined;
  return {
    contentBlocks: blocks.length,
    types: [...new Set(blocks.map((block) => String(block?.type)))],
    isError: isError === true,
    structuredContent: structuredContent !== undefined,
    text: first === undefined ? null : first.length > 100 ? `${first.slice(0, 100)}…` : first,
  };
}

function errorOf(error: unknown): { code: number | null; message: string } {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return { code: typeof code === 'number' ? code : null, message: typeof message === 'string' ? message : JSON.stringify(error) };
}

function summary(result: ResultSummary): string {
  const types = result.types.length > 0 ? ` (${result.types.join(', ')})` : '';
  const structured = result.structuredContent ? '; with structuredContent' : '';
  const text = result.text === null ? '' : `; text: ${JSON.stringify(result.text)}`;
  return `${result.contentBlocks} content block(s)${types}; isError: ${result.isError ? 'yes' : 'no'}${structured}${text}`;
}

function binding(task: AdminTask): string {
  const who = task.bound ? 'bound' : 'anonymous';
  return task.sessionId === undefined ? who : `${who}, session ${idPrefix(task.sessionId)}`;
}

function leaseEnd(expiresAt: Date, now: number): string {
  return expiresAt.getTime() > now ? relative(expiresAt, now) : `ran out ${relative(expiresAt, now).replace(/ ago$/, '')} ago`;
}

/** Who holds the task, or why nobody does. */
function lease(task: AdminTask, now: number): string {
  if (task.lease) {
    const live = task.lease.expiresAt.getTime() > now;
    const end = `${timestamp(task.lease.expiresAt)} (${relative(task.lease.expiresAt, now)})`;
    return live ? `${task.lease.owner} until ${end}` : `${task.lease.owner}, ran out at ${end}: its instance stopped renewing it`;
  }
  if (task.status === 'input_required') return 'none: waiting for input; the instance that receives the answers continues it';
  if (task.status === 'working') return 'none: let go (a drain); another instance may take it over';
  return 'none: finished';
}

function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
