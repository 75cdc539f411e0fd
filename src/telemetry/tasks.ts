// Tasks in traces and metrics. A task outlives the request that created it, so its work is a
// span of its own per run (`baton.task.run {tool}`): a child of the request that started it (the
// tools/call that created it, the tasks/update that resumed it) or of `baton.task.takeover` when
// an instance took it over from one that is gone. Counters: created, finished (by status) and
// taken over; a gauge of tasks in the store by status (one statement per collection).
import { type Attributes, context, SpanStatusCode, trace } from '@opentelemetry/api';
import { instruments, SCOPE } from './instruments.js';
import { withoutRequestScope } from './request-scope.js';

const tracer = trace.getTracer(SCOPE);

/** What telemetry reads of a task (the store's TaskRecord has these). */
export interface TaskView {
  id: string;
  tool: string;
  /** Times the task was started: 1, plus one per takeover. */
  attempts: number;
}

/** How one run of a task here ended. */
export interface TaskRunEnd {
  /**
   * The status the run wrote (completed, failed, input_required); `lost` when the store refused
   * the write (cancelled or taken over meanwhile); `stopped` when the handler was stopped (a
   * cancel, the lease lost, this instance stopping); `error` when the outcome could not be written.
   */
  status: 'completed' | 'failed' | 'input_required' | 'lost' | 'stopped' | 'error';
  /** The MCP conventions' error.type: a failed task's JSON-RPC code, `tool_error` for a result with isError, the error's class. */
  errorType?: string;
}

const FINISHED = new Set<TaskRunEnd['status']>(['completed', 'failed']);

// Task ids are shortened as session ids are: the whole id is what a client presents to reach it.
const attributesOf = (task: TaskView): Attributes => ({
  'baton.task.id': task.id.slice(0, 8),
  'gen_ai.tool.name': task.tool,
  'baton.task.attempt': task.attempts,
});

/** A task was stored: counted, and the request that created it names it (`baton.task.id`). */
export function taskCreated(task: TaskView): void {
  instruments().tasksCreated.add(1, { 'gen_ai.tool.name': task.tool });
  trace.getActiveSpan()?.setAttribute('baton.task.id', task.id.slice(0, 8));
}

/**
 * Runs one run of a task here inside its span, under the active context (the request that
 * started it, or a takeover). The run's statements are its children, not the request's: the
 * request's statement count is its own.
 */
export async function observeTaskRun(task: TaskView, run: () => Promise<TaskRunEnd>): Promise<void> {
  const span = tracer.startSpan(`baton.task.run ${task.tool}`, { attributes: attributesOf(task) });
  let end: TaskRunEnd;
  try {
    end = await context.with(trace.setSpan(withoutRequestScope(context.active()), span), run);
  } catch (error) {
    end = { status: 'error', errorType: (error as Error)?.constructor?.name ?? 'error' };
    throw error;
  } finally {
    span.setAttribute('baton.task.status', end!.status);
    if (end!.errorType !== undefined) {
      span.setAttribute('error.type', end!.errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
    if (FINISHED.has(end!.status)) {
      instruments().tasksFinished.add(1, {
        'gen_ai.tool.name': task.tool,
        'baton.task.status': end!.status,
        ...(end!.errorType !== undefined && { 'error.type': end!.errorType }),
      });
    }
  }
}

/**
 * This instance took over `task` from one that is gone: counted, and `run` (what the takeover does:
 * start the task again, or fail it) runs inside a `baton.task.takeover` span, so that the run it
 * starts is that span's child. Returns what `run` returns.
 */
export function observeTakeover<T>(task: TaskView, run: () => T): T {
  instruments().takeovers.add(1, { 'gen_ai.tool.name': task.tool });
  const span = tracer.startSpan('baton.task.takeover', { attributes: attributesOf(task) });
  try {
    return context.with(trace.setSpan(context.active(), span), run);
  } finally {
    span.end();
  }
}

/** baton.tasks: tasks in the store by status (every instance reports the same numbers: max(), not sum()). */
export function observeTasks(count: () => Promise<Record<string, number>>): () => void {
  const { meter } = instruments();
  const gauge = meter.createObservableGauge('baton.tasks', { unit: '{task}', description: 'Tasks in the store, by status' });
  const observe = async (result: { observe(value: number, attributes: Attributes): void }) => {
    for (const [status, n] of Object.entries(await count())) result.observe(n, { 'baton.task.status': status });
  };
  gauge.addCallback(observe);
  return () => gauge.removeCallback(observe);
}
