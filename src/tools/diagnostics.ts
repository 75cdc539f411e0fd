// Tools for operating and testing the platform itself, not for end users: `sleep` is a slow call
// whose duration the caller chooses (graceful shutdown, rolling restarts and tasks are tested with it);
// `sleep_unrepeatable` the same wait declared as work that may not run twice.
// Enabled with BATON_TOOLSETS=diagnostics; never part of the default set.
import { z } from 'zod';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { defineTool, defineToolset, type HandlerContext, text, type Toolset } from '../core/define.js';

/** A diagnostic call must not hold a request (and a shutdown) for long. */
export const MAX_SLEEP_MS = 60_000;
const PROGRESS_STEP_MS = 500;

const SLEEP_INPUT = { ms: z.number().int().min(0).max(MAX_SLEEP_MS).describe('How long to wait, in milliseconds.') };

const sleep = defineTool({
  name: 'sleep',
  description: `Waits the given number of milliseconds (at most ${MAX_SLEEP_MS}), reporting progress about every ${PROGRESS_STEP_MS} ms when the caller passes a progress token, then answers "slept <ms> ms". Cancelling the request ends the wait early.`,
  input: SLEEP_INPUT,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  // Long work on purpose: a task for clients that support tasks, and safe to run again from its start.
  task: { support: 'optional', rerunnable: true },
  handler: ({ ms }, ctx) => sleepFor(ms, ctx),
});

// The same wait declared as work that must not run twice: what a drain does to a call it may not
// hand over by running it again (docs/operations.md, "Calls in flight during a deploy").
const sleepUnrepeatable = defineTool({
  name: 'sleep_unrepeatable',
  description: `Waits like sleep, but declares that it may not be run again: a call cut off by a restart ends with an error instead of running elsewhere.`,
  input: SLEEP_INPUT,
  annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: false },
  handler: ({ ms }, ctx) => sleepFor(ms, ctx),
});

async function sleepFor(ms: number, ctx: HandlerContext): Promise<CallToolResult> {
  const started = Date.now();
  await ctx.progress(0, ms);
  for (let elapsed = 0; elapsed < ms && !ctx.signal.aborted; ) {
    await wait(Math.min(PROGRESS_STEP_MS, ms - elapsed), ctx.signal);
    elapsed = Math.min(ms, Date.now() - started);
    await ctx.progress(elapsed, ms);
  }
  if (ctx.signal.aborted) return { isError: true, content: [{ type: 'text', text: `cancelled after ${Date.now() - started} ms` }] };
  return text(`slept ${ms} ms`);
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export const diagnosticsToolset: Toolset = defineToolset({
  name: 'diagnostics',
  description: 'Tools for testing the platform itself (slow calls with progress).',
  tools: [sleep, sleepUnrepeatable],
});
