// Runs the tasks this instance holds (either era's task methods hand them over once the record is
// stored): the tool's handler in the background, under a lease in the store that the runner renews
// while anything runs, and the outcome written back. A cancel reaches the handler wherever it was
// sent: the store publishes it on the task's topic, which the runner listens to while the task runs.
// When the instance drains, close() stops the handlers and lets go of their leases, so that another
// instance takes the tasks over at once (core/task-takeover.ts).
// One runner per platform: it owns this instance's running tasks and nothing else does.
import { errorText, type Logger } from '../log.js';
import type { Channel, ChangeNotifier, Json } from '../store/channel/types.js';
import { taskTopic, type TaskMessage } from '../store/channel/topics.js';
import type { TaskRecord, TaskStore } from '../store/tasks/types.js';
import { callTool, FaultCode } from './calls.js';
import { type HandlerContext, type InputResponses, isInputRequired } from './define.js';
import type { Registry } from './registry.js';
import { observeTaskRun, type TaskRunEnd } from '../telemetry/tasks.js';

export interface TaskRunnerOptions {
  tasks: TaskStore;
  channel: Channel;
  registry: Registry;
  /** The id this instance holds leases with. */
  owner: string;
  /** How long a lease lasts; renewed every third of it while the task runs. */
  leaseMs: number;
  changes: ChangeNotifier;
  logger: Logger;
}

/**
 * What a serverless runtime lends a request to keep work going after its response (Workers'
 * `ctx.waitUntil`): a task's run is handed to it, or the runtime may stop the run with the request.
 */
export type WaitUntil = (work: Promise<unknown>) => void;

export class TaskRunner {
  readonly #options: TaskRunnerOptions;
  /** The tasks running here, each with what stops its handler. */
  readonly #running = new Map<string, AbortController>();
  /** Outcomes being written now: a drain lets them land before it lets go of the leases. */
  readonly #writes = new Set<Promise<unknown>>();
  #renewal: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: TaskRunnerOptions) {
    this.#options = options;
  }

  get owner(): string {
    return this.#options.owner;
  }

  get leaseMs(): number {
    return this.#options.leaseMs;
  }

  /** Ids of the tasks whose handler runs here now. */
  get running(): string[] {
    return [...this.#running.keys()];
  }

  /**
   * Runs a task this instance holds the lease on (just created, resumed by an answer, or taken
   * over), in the background, for the caller stored with it. `waitUntil`, where the runtime lent
   * the request one (Workers), is handed the run so that it goes on after the response; a Node
   * process keeps it running anyway. Returns the run, for callers that outlive it on purpose.
   */
  start(task: TaskRecord, waitUntil?: WaitUntil): Promise<void> {
    if (this.#closed) throw new Error('the task runner is closed: this instance is stopping');
    if (this.#running.has(task.id)) return Promise.resolve();
    const stop = new AbortController();
    this.#running.set(task.id, stop);
    this.#renewWhileRunning();
    // In its span: a child of whatever started it (the request, a takeover).
    const run = observeTaskRun(task, () => this.#run(task, stop)).finally(() => {
      this.#running.delete(task.id);
      if (this.#running.size === 0) this.#stopRenewing();
    });
    waitUntil?.(run);
    return run;
  }

  /** Whether close() was called: no task starts here any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The drain: stops every handler running here (an aborted handler writes nothing), lets the
   * outcomes already being written land, then lets go of the leases of the tasks that were still
   * running, so that another instance takes them over at once instead of after their lease.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopRenewing();
    const stopped = [...this.#running.keys()];
    for (const stop of this.#running.values()) stop.abort(new Error('this instance is stopping'));
    await Promise.allSettled([...this.#writes]);
    if (stopped.length === 0) return;
    const { tasks, owner, logger } = this.#options;
    try {
      // Tasks that finished meanwhile hold no lease: only those left unfinished are let go.
      const released = await tasks.release(owner, stopped);
      logger.info('tasks released for another instance to take over', { released });
    } catch (error) {
      // Their leases run out instead: another instance takes them over a lease later.
      logger.warn('tasks could not be released; another instance takes them over once their lease runs out', {
        tasks: stopped.length,
        error: errorText(error),
      });
    }
  }

  async #run(task: TaskRecord, stop: AbortController): Promise<TaskRunEnd> {
    const { tasks, channel, registry, owner, logger } = this.#options;
    // A cancel published anywhere ends the handler here; the store already recorded it.
    const subscription = channel.subscribe(taskTopic(task.id), (message) => {
      if ((message.payload as unknown as TaskMessage).status === 'cancelled') stop.abort(new Error('the task was cancelled'));
    });
    try {
      let outcome: Parameters<TaskStore['settle']>[2] | { inputRequests: Record<string, Json> };
      try {
        const output = await callTool(registry, { name: task.tool, arguments: task.arguments }, this.#context(task, stop.signal));
        if (isInputRequired(output)) {
          const requests = output.inputRequests ?? {};
          outcome =
            Object.keys(requests).length > 0
              ? { inputRequests: requests as unknown as Record<string, Json> }
              : {
                  status: 'failed',
                  error: { code: FaultCode.InternalError, message: `tool ${task.tool} asked for input without any input request` },
                };
        } else outcome = { status: 'completed', result: output as unknown as Json };
      } catch (error) {
        // A protocol error (the tool's own, or its arguments refused): the task failed.
        const { code, message, data } = error as { code?: unknown; message?: unknown; data?: unknown };
        outcome = {
          status: 'failed',
          error: {
            code: Number.isSafeInteger(code) ? (code as number) : FaultCode.InternalError,
            message: typeof message === 'string' ? message : errorText(error),
            ...(data !== undefined && { data: data as Json }),
          },
        };
      }
      // Cancelled, no longer ours, or stopped by a drain: whatever the handler ended with (a
      // cancelled sleep's error, say) is not the task's outcome; another instance's is, or the cancel.
      if (stop.signal.aborted) {
        logger.debug('task handler stopped', { task: task.id, reason: errorText(stop.signal.reason) });
        return { status: 'stopped' };
      }
      const write =
        'inputRequests' in outcome ? tasks.requestInput(task.id, owner, outcome.inputRequests) : tasks.settle(task.id, owner, outcome);
      this.#writes.add(write);
      const written = await write.finally(() => this.#writes.delete(write));
      if (!written) logger.debug('a task ended after it was cancelled or taken over', { task: task.id });
      return written ? runEnd(outcome) : { status: 'lost' };
    } catch (error) {
      logger.error('a task could not record its outcome', { task: task.id, error: errorText(error) });
      return { status: 'error', errorType: (error as Error)?.constructor?.name ?? 'error' };
    } finally {
      subscription.unsubscribe();
    }
  }

  /** What the handler of a task sees: no stream to send on, the task's own signal, every answer so far. */
  #context(task: TaskRecord, signal: AbortSignal): HandlerContext {
    const { caller } = task;
    const quiet = async () => {};
    return {
      era: 'stateless',
      sessionId: task.sessionId,
      session: undefined,
      principal: caller.principal,
      clientCapabilities: caller.clientCapabilities,
      clientInfo: caller.clientInfo,
      signal,
      inputResponses: Object.keys(task.inputResponses).length > 0 ? (task.inputResponses as unknown as InputResponses) : undefined,
      requestState: undefined,
      log: quiet,
      progress: quiet,
      notify: quiet,
      changes: this.#options.changes,
      closeStream: undefined,
    };
  }

  /** One statement renews every lease held here; a task missing from its answer stops (cancelled, finished or taken over). */
  #renewWhileRunning(): void {
    if (this.#renewal !== undefined) return;
    const { tasks, owner, leaseMs, logger } = this.#options;
    this.#renewal = setInterval(
      () => {
        // Only tasks that ran when the statement left: one started meanwhile is not in its answer.
        const asked = [...this.#running];
        tasks
          .renew(owner, leaseMs)
          .then((held) => {
            for (const [id, stop] of asked) if (!held.includes(id)) stop.abort(new Error('the task is no longer held here'));
          })
          .catch((error: unknown) => logger.warn('task leases could not be renewed', { error: errorText(error) }));
      },
      Math.max(1, Math.floor(leaseMs / 3)),
    );
    // A lease renewal alone must not keep a Node process alive.
    (this.#renewal as { unref?: () => void }).unref?.();
  }

  #stopRenewing(): void {
    clearInterval(this.#renewal);
    this.#renewal = undefined;
  }
}

/** How a run that wrote its outcome ended, for its span and the finished counter. */
function runEnd(outcome: Parameters<TaskStore['settle']>[2] | { inputRequests: Record<string, Json> }): TaskRunEnd {
  if ('inputRequests' in outcome) return { status: 'input_required' };
  if (outcome.status === 'failed')
    return { status: 'failed', errorType: String((outcome.error as { code?: unknown } | null)?.code ?? 'error') };
  if (outcome.status === 'completed') {
    return (outcome.result as { isError?: unknown } | null)?.isError === true
      ? { status: 'completed', errorType: 'tool_error' }
      : { status: 'completed' };
  }
  // The runner writes no other outcome.
  return { status: 'lost' };
}
