// Takes over the tasks whose instance is gone: a task still `working` whose lease ran out (its
// instance crashed, or hangs) or that nobody holds (its instance drained and let go of it). Each
// look is one statement (a claim of up to a batch); a task taken that may run again starts over
// here, from its start, with the input it already received, for the caller stored with it; any
// other ends `failed`, saying why. Node servers look on an interval; Workers and Vercel, which have
// no loop, look from their cron handler and from requests (at most once per interval per isolate).
// One per platform, beside the runner that runs what it takes.
import { errorText, type Logger } from '../log.js';
import type { Json } from '../store/channel/types.js';
import type { TaskRecord, TaskStore } from '../store/tasks/types.js';
import { FaultCode } from './calls.js';
import type { TaskRunner } from './task-runner.js';
import { observeTakeover } from '../telemetry/tasks.js';

export interface TaskTakeoverOptions {
  tasks: TaskStore;
  runner: TaskRunner;
  /** How often the loop looks (Node), and the least time between two looks from requests. */
  intervalMs: number;
  /** Most tasks one look takes; the next look takes more. */
  batch: number;
  /** False while the instance drains: it takes nothing it would have to let go of at once. */
  active: () => boolean;
  logger: Logger;
}

export interface TakeoverReport {
  /** Tasks started again here. */
  rerun: string[];
  /** Tasks ended `failed` because they may not run again. */
  failed: string[];
  /** Settles once every run started by this look has ended (Workers keep the isolate for it: waitUntil). */
  runs: Promise<void>;
}

/** The error a task that may not run again ends with when its instance stopped: for the person reading it. */
export function instanceStoppedError(task: Pick<TaskRecord, 'tool' | 'attempts'>): Json {
  return {
    code: FaultCode.InternalError,
    message:
      `The server instance that was running this task stopped before the task finished (a restart, a deploy or a crash). ` +
      `Tool "${task.tool}" is not marked as safe to run twice, so it was not started again: its work may be partly done. ` +
      'Check what it did before calling the tool again.',
    data: { reason: 'instance_stopped', tool: task.tool, attempts: task.attempts },
  };
}

const NOTHING: TakeoverReport = { rerun: [], failed: [], runs: Promise.resolve() };

export class TaskTakeover {
  readonly #options: TaskTakeoverOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The look under way: a second caller joins it instead of sending another statement. */
  #look: Promise<TakeoverReport> | undefined;
  #lastLookAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: TaskTakeoverOptions) {
    this.#options = options;
  }

  /** Looks now, then every interval until close() (the Node server, once its store is ready). */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    void this.run();
    this.#timer = setInterval(() => void this.run(), this.#options.intervalMs);
    // The HTTP server keeps the process alive; this timer alone must not.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /**
   * One look now (or the one under way): claims up to a batch of tasks whose instance is gone and
   * re-runs or fails each. A failed look (the database away) is logged and reported as empty; the
   * next one tries again.
   */
  run(): Promise<TakeoverReport> {
    if (this.#closed || this.#options.runner.closed || !this.#options.active()) return Promise.resolve(NOTHING);
    this.#lastLookAt = performance.now();
    this.#look ??= this.#take().finally(() => (this.#look = undefined));
    return this.#look;
  }

  /** A look unless one was made less than an interval ago (requests on Workers and Vercel); undefined when none was due. */
  runIfDue(): Promise<TakeoverReport> | undefined {
    if (performance.now() - this.#lastLookAt < this.#options.intervalMs) return undefined;
    return this.run();
  }

  /** No more looks; the one under way is waited for, so that the runner it feeds closes after it. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#look;
  }

  async #take(): Promise<TakeoverReport> {
    const { tasks, runner, batch, logger } = this.#options;
    let taken: TaskRecord[];
    try {
      taken = await tasks.claim(runner.owner, runner.leaseMs, { limit: batch });
    } catch (error) {
      logger.warn('looking for tasks to take over failed; the next look tries again', { error: errorText(error) });
      return NOTHING;
    }
    if (taken.length === 0) return NOTHING;
    if (runner.closed) {
      // The instance began to stop while the claim was on its way: let go of them for another one.
      await tasks
        .release(
          runner.owner,
          taken.map((task) => task.id),
        )
        .catch((error: unknown) => {
          logger.warn('tasks taken over while stopping could not be let go; their lease runs out instead', { error: errorText(error) });
        });
      return NOTHING;
    }
    const rerun = taken.filter((task) => task.rerunnable);
    const failed = taken.filter((task) => !task.rerunnable);
    // Each in a takeover span, which the re-run's own span is a child of.
    const runs = rerun.map((task) => observeTakeover(task, () => runner.start(task)));
    await Promise.all(
      failed.map(async (task) => {
        try {
          const written = await observeTakeover(task, () =>
            tasks.settle(task.id, runner.owner, { status: 'failed', error: instanceStoppedError(task) }),
          );
          if (!written) logger.debug('a task taken over was cancelled before it could be failed', { task: task.id });
        } catch (error) {
          // Still leased here: once the lease runs out, a later look fails it again.
          logger.warn('a task taken over could not be failed', { task: task.id, error: errorText(error) });
        }
      }),
    );
    logger.info('tasks taken over', { rerun: rerun.map((task) => task.id), failed: failed.map((task) => task.id) });
    return {
      rerun: rerun.map((task) => task.id),
      failed: failed.map((task) => task.id),
      runs: Promise.all(runs).then(() => {}),
    };
  }
}
