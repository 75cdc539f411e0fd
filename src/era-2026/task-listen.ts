// `notifications/tasks` on a 2026-07-28 `subscriptions/listen` stream (SEP-2663, "Task Status
// Notifications"). The client opts in per task, naming them in the listen request's filter
// (`notifications.taskIds`); the base protocol forbids sending what it did not ask for. The SDK's
// listen router knows only the base filter's four change notifications: it drops `taskIds` and
// ends at once a stream that asks for nothing else. So a listen request naming tasks is served
// here. The tasks the caller may see (its credential's, of no session) are acknowledged; each one's
// topic on the channel is followed, where the store publishes every change in the statement that
// makes it, on whichever instance runs the task; each change is sent as the task's DetailedTask,
// read from the store, as tasks/get would answer it. The rest of the filter, if any, stays the
// SDK's: its stream is passed through, its acknowledgement completed with the task ids.
import { CLIENT_CAPABILITIES_META_KEY, SUBSCRIPTION_ID_META_KEY } from '@modelcontextprotocol/server';
import type { Caller } from '../auth/caller.js';
import { errorText, type Logger } from '../log.js';
import { taskTopic } from '../store/channel/topics.js';
import type { Channel, Subscription } from '../store/channel/types.js';
import { isTerminal } from '../store/tasks/types.js';
import { declaresTasks, detailedTask, type ModernTasksOptions, scopeOf, tasksRequired } from './tasks.js';
import { sseEvent } from '../http/sse.js';

/** As the SDK's own listen streams: a comment this often keeps proxies from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;
const ACKNOWLEDGED = 'notifications/subscriptions/acknowledged';

interface ListenBody {
  id: string | number;
  params: { notifications: Record<string, unknown>; _meta?: Record<string, unknown> };
}

/** Whether a listen request's filter names tasks (then it is served by `listenToTasks`). */
export function namesTasks(body: unknown): body is ListenBody {
  const ids = (body as { params?: { notifications?: { taskIds?: unknown } } } | undefined)?.params?.notifications?.taskIds;
  return Array.isArray(ids) && ids.length > 0;
}

export interface TaskListenOptions {
  body: ListenBody;
  caller: Caller;
  tasks: ModernTasksOptions;
  channel: Channel;
  /** Ends the stream (the client went away, the stream's timeout, a shutdown). */
  signal: AbortSignal;
  logger: Logger;
  /** Serves a listen request for the rest of the filter (the SDK's router). */
  rest: (body: ListenBody) => Promise<Response>;
}

/**
 * Serves a listen request whose filter names tasks. Rejects (StoreUnavailableError) when the store
 * is away while the tasks are looked up; the caller answers that as every outage.
 */
export async function listenToTasks(options: TaskListenOptions): Promise<Response> {
  const { body, caller, tasks, channel, signal, logger } = options;
  const { taskIds, ...others } = body.params.notifications;
  const ids = taskIds as unknown[];
  if (!ids.every((id) => typeof id === 'string')) return rpcError(body.id, -32602, 'notifications.taskIds must be task ids (strings)');
  if (!declaresTasks(body.params._meta?.[CLIENT_CAPABILITIES_META_KEY])) {
    const fault = tasksRequired('notifications/tasks on subscriptions/listen');
    return rpcError(body.id, fault.code, fault.message, fault.data);
  }
  const scope = scopeOf(caller);
  // Only the caller's own tasks: another credential's id is left out of the acknowledgement, as an
  // unknown one is, so that the answer says nothing of whether it exists.
  const found = await Promise.all([...new Set(ids as string[])].map((id) => tasks.store.get(id, scope)));
  const honored = found.filter((task): task is NonNullable<typeof task> => task !== undefined).map((task) => task.id);
  const asksMore = Object.values(others).some((value) => value === true || (Array.isArray(value) && value.length > 0));
  const upstream = asksMore ? await options.rest({ ...body, params: { ...body.params, notifications: others } }) : undefined;
  if (upstream && !(upstream.headers.get('content-type') ?? '').includes('text/event-stream')) return upstream;

  const encoder = new TextEncoder();
  const following: Subscription[] = [];
  let closed = false;
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let end = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (frame: string) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(frame));
        } catch {
          end();
        }
      };
      const send = (method: string, params: Record<string, unknown>) => {
        const meta = { ...(params._meta as Record<string, unknown> | undefined), [SUBSCRIPTION_ID_META_KEY]: body.id };
        write(sseEvent({ jsonrpc: '2.0', method, params: { ...params, _meta: meta } }));
      };
      end = () => {
        if (closed) return;
        closed = true;
        for (const subscription of following) subscription.unsubscribe();
        clearInterval(keepAlive);
        signal.removeEventListener('abort', end);
        try {
          controller.close();
        } catch {
          // Already closed by the client's side.
        }
      };
      if (signal.aborted) return end();
      signal.addEventListener('abort', end, { once: true });

      /** Follows one task: its current state at once, then each change, in order, until it ends. */
      const follow = (id: string) => {
        let last = '';
        let queue = Promise.resolve();
        const refresh = () => {
          queue = queue.then(async () => {
            if (closed) return;
            try {
              const task = await tasks.store.get(id, scope);
              if (!task || closed) return;
              // A change heard twice (published while the first read ran) is sent once.
              const version = `${task.status}|${task.updatedAt.getTime()}`;
              if (version === last) return;
              last = version;
              send('notifications/tasks', detailedTask(task, tasks.pollIntervalMs));
              if (isTerminal(task.status)) subscription.unsubscribe();
            } catch (error) {
              // The next change, or the client's own tasks/get, brings what this read missed.
              logger.warn('a task notification could not be read', { error: errorText(error) });
            }
          });
        };
        // Subscribed before the first read: a change between the two is not lost.
        const subscription = channel.subscribe(taskTopic(id), refresh);
        following.push(subscription);
        refresh();
      };
      const start = () => honored.forEach(follow);

      if (!upstream) {
        send(ACKNOWLEDGED, { notifications: { taskIds: honored } });
        // Nothing to follow (none of the tasks is the caller's): the stream ends with its answer.
        if (honored.length === 0) return end();
        start();
        keepAlive = setInterval(() => write(': keepalive\n\n'), KEEP_ALIVE_MS);
        (keepAlive as { unref?: () => void }).unref?.();
        return;
      }
      // The SDK's stream, frame by frame: its acknowledgement (always first) gains the task ids,
      // and the tasks are followed from then on, so that nothing precedes it.
      void (async () => {
        const reader = upstream.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let acknowledged = false;
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done || closed) break;
            buffer += value;
            for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
              const frame = buffer.slice(0, cut + 2);
              buffer = buffer.slice(cut + 2);
              if (acknowledged) {
                write(frame);
                continue;
              }
              const data = frame.split('\n').find((line) => line.startsWith('data: '));
              const message = data ? (JSON.parse(data.slice(6)) as { method?: string; params?: Record<string, unknown> }) : undefined;
              if (message?.method !== ACKNOWLEDGED) {
                write(frame);
                continue;
              }
              acknowledged = true;
              const params = message.params ?? {};
              send(ACKNOWLEDGED, { ...params, notifications: { ...(params.notifications as object), taskIds: honored } });
              start();
            }
          }
        } catch (error) {
          logger.debug('a listen stream ended', { error: errorText(error) });
        } finally {
          reader.cancel().catch(() => {});
          end();
        }
      })();
    },
    cancel() {
      end();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' },
  });
}

/** A JSON-RPC error as the SDK's listen router answers one (HTTP 200). */
function rpcError(id: string | number, code: number, message: string, data?: unknown): Response {
  return Response.json({ jsonrpc: '2.0', id, error: { code, message, ...(data !== undefined && { data }) } });
}
