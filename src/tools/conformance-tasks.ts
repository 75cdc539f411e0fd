// Conformance fixtures for the tasks extension (the suite's `tasks-*` scenarios): tools that
// become tasks, fail in either of the two ways a task can, ask for input while they run, or gather
// input before their task exists. Names, arguments and texts follow what the scenarios ask for.
import { z } from 'zod';
import { ProtocolFault } from '../core/calls.js';
import { acceptedContent, defineTool, type HandlerContext, inputRequired, text } from '../core/define.js';

/** Waits, ending early when the task is cancelled. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

const greet = defineTool({
  name: 'greet',
  description: 'Greets by name, in the request (never a task).',
  input: { name: z.string() },
  handler: ({ name }) => text(`Hello, ${name}!`),
});

const slowCompute = defineTool({
  name: 'slow_compute',
  description: 'Waits the given number of seconds, then answers; a task when the client supports tasks.',
  input: { seconds: z.number().min(0).max(600), label: z.string().optional() },
  annotations: { readOnlyHint: true, idempotentHint: true },
  task: { support: 'optional' },
  async handler({ seconds, label }, ctx) {
    await pause(seconds * 1000, ctx.signal);
    return text(`computed ${label ?? 'result'} after ${seconds} s`);
  },
});

const failingJob = defineTool({
  name: 'failing_job',
  description: 'Always a task; after about a second it reports a tool error.',
  input: {},
  task: { support: 'required' },
  async handler(_args, ctx) {
    await pause(1000, ctx.signal);
    return { isError: true, content: [{ type: 'text', text: 'failing_job failed, as it always does' }] };
  },
});

const protocolErrorJob = defineTool({
  name: 'protocol_error_job',
  description: 'A task that ends in a protocol error (the task fails).',
  input: {},
  task: { support: 'optional' },
  handler() {
    throw new ProtocolFault(-32603, 'protocol_error_job broke on purpose');
  },
});

const CONFIRM = z.object({ confirm: z.boolean() });

const confirmDelete = defineTool({
  name: 'confirm_delete',
  description: 'A task that asks the user to confirm before it deletes (pretends to) the file.',
  input: { filename: z.string() },
  task: { support: 'optional' },
  handler({ filename }, ctx) {
    const answer = acceptedContent(ctx.inputResponses, 'confirm', CONFIRM);
    if (answer === undefined) {
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: `Delete ${filename}?`,
            requestedSchema: { type: 'object', properties: { confirm: { type: 'boolean' } }, required: ['confirm'] },
          }),
        },
      });
    }
    return text(answer.confirm ? `deleted ${filename}` : `kept ${filename}`);
  },
});

const NAME = { type: 'object' as const, properties: { name: { type: 'string' as const } }, required: ['name'] };
const nameOf = (ctx: HandlerContext, key: string) => acceptedContent(ctx.inputResponses, key, z.looseObject({ name: z.string() }))?.name;

const multiInput = defineTool({
  name: 'multi_input',
  description: 'A task that asks two questions at once and answers once both are answered.',
  input: {},
  task: { support: 'optional' },
  handler(_args, ctx) {
    const first = nameOf(ctx, 'first');
    const second = nameOf(ctx, 'second');
    if (first !== undefined && second !== undefined) return text(`got ${first} and ${second}`);
    return inputRequired({
      inputRequests: {
        ...(first === undefined && { first: inputRequired.elicit({ message: 'First name?', requestedSchema: NAME }) }),
        ...(second === undefined && { second: inputRequired.elicit({ message: 'Second name?', requestedSchema: NAME }) }),
      },
    });
  },
});

const toolWithTask = defineTool({
  name: 'test_tool_with_task',
  description: 'Asks for a name in the request, then becomes a task that greets by it.',
  input: {},
  task: {
    support: 'required',
    input: (_args, ctx) =>
      nameOf(ctx, 'user_name') === undefined
        ? inputRequired({ inputRequests: { user_name: inputRequired.elicit({ message: 'What is your name?', requestedSchema: NAME }) } })
        : undefined,
  },
  handler: (_args, ctx) => text(`Hello, ${nameOf(ctx, 'user_name') ?? 'nobody'}, from a task!`),
});

export const taskTools = [greet, slowCompute, failingJob, protocolErrorJob, confirmDelete, multiInput, toolWithTask];
