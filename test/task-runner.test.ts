// The task runner on its own, over the memory store: it renews the leases it holds while a handler
// runs, stops a handler whose task is no longer held here (cancelled, or its lease let go for
// another instance), and writes what the handler ended with.
import { afterEach, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineTool, text } from '../src/core/define.js';
import { Registry } from '../src/core/registry.js';
import { TaskRunner } from '../src/core/task-runner.js';
import { createLogger } from '../src/log.js';
import { changeNotifier } from '../src/store/channel/changes.js';
import { MemorySessionStore } from '../src/store/memory-store.js';

const HOUR = 3_600_000;
const OWNER = 'instance-a';
const CALLER = { principal: undefined, clientCapabilities: undefined, clientInfo: undefined };
/** Waits on state, never on a clock: generous, for a loaded machine. */
const SETTLED = { timeout: 30_000, interval: 10 };

/** Ends when its task is stopped, or when the test lets it. */
let release: (() => void) | undefined;
const gate = defineTool({
  name: 'gate',
  description: 'Waits until released or stopped.',
  input: { label: z.string() },
  async handler({ label }, ctx) {
    await new Promise<void>((resolve) => {
      release = resolve;
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return text(ctx.signal.aborted ? `stopped ${label}` : `released ${label}`);
  },
});

/** Says whom it runs for. */
const whoami = defineTool({
  name: 'whoami',
  description: 'Names the caller its handler sees.',
  input: {},
  handler: (_args, ctx) =>
    text(
      `${ctx.principal?.id ?? 'nobody'} with ${ctx.clientInfo?.name ?? 'no client'}, elicitation ${ctx.clientCapabilities?.elicitation ? 'yes' : 'no'}`,
    ),
});

const stores: MemorySessionStore[] = [];
const runners: TaskRunner[] = [];
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.close();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  release = undefined;
});

function setup(leaseMs: number) {
  const store = new MemorySessionStore({ ttlMs: HOUR, idleTimeoutMs: HOUR });
  stores.push(store);
  const runner = new TaskRunner({
    tasks: store.tasks,
    channel: store.channel,
    registry: new Registry([{ name: 'test', description: 'test', tools: [gate, whoami] }]),
    owner: OWNER,
    leaseMs,
    changes: changeNotifier(store.channel),
    logger: createLogger('error'),
  });
  runners.push(runner);
  const create = () =>
    store.tasks.create({
      credentialHash: 'c'.repeat(64),
      tool: 'gate',
      arguments: { label: 'one' },
      ttlMs: HOUR,
      rerunnable: false,
      lease: { owner: OWNER, ms: leaseMs },
      caller: CALLER,
    });
  return { store, runner, create };
}

it('renews the lease of a running task, and writes its result when the handler ends', async () => {
  const { store, runner, create } = setup(90);
  const task = await create();
  const run = runner.start(task);
  const first = task.lease!.expiresAt.getTime();
  // Renewed (every third of the lease) while the handler waits.
  await vi.waitFor(async () => {
    expect((await store.tasks.get(task.id, 'all'))!.lease!.expiresAt.getTime()).toBeGreaterThan(first);
  }, SETTLED);
  expect(runner.running).toEqual([task.id]);
  release!();
  await run;
  const done = await store.tasks.get(task.id, 'all');
  expect(done).toMatchObject({ status: 'completed', result: { content: [{ type: 'text', text: 'released one' }] }, lease: undefined });
  expect(runner.running).toEqual([]);
});

it('stops the handler of a task cancelled elsewhere, and writes nothing over the cancel', async () => {
  const { store, runner, create } = setup(HOUR);
  const task = await create();
  const run = runner.start(task);
  await store.tasks.cancel(task.id, 'all');
  await run;
  expect(await store.tasks.get(task.id, 'all')).toMatchObject({ status: 'cancelled' });
});

it('stops the handler of a task no longer held here when the renewal says so (its lease let go, for another instance)', async () => {
  const { store, runner, create } = setup(60);
  const task = await create();
  const run = runner.start(task);
  // No message on the task's topic: only the renewal's answer tells the runner.
  await store.tasks.release(OWNER, [task.id]);
  await run;
  const after = await store.tasks.get(task.id, 'all');
  expect(after).toMatchObject({ status: 'working', lease: undefined });
});

it('refuses to start tasks once closed (the instance is stopping), stops those running and lets go of their leases', async () => {
  const { store, runner, create } = setup(HOUR);
  const task = await create();
  const run = runner.start(task);
  await runner.close();
  await run;
  // Nothing written, and the lease let go: another instance takes the task over at once.
  expect(await store.tasks.get(task.id, 'all')).toMatchObject({ status: 'working', lease: undefined, result: undefined });
  expect(() => runner.start(task)).toThrow(/stopping/);
});

it('runs the handler for the caller stored with the task (an instance taking it over has no request to read it from)', async () => {
  const { store, runner } = setup(HOUR);
  const task = await store.tasks.create({
    credentialHash: 'c'.repeat(64),
    tool: 'whoami',
    arguments: {},
    ttlMs: HOUR,
    rerunnable: true,
    lease: { owner: OWNER, ms: HOUR },
    caller: {
      principal: { id: 'alice', method: 'api_key' },
      clientCapabilities: { elicitation: {} },
      clientInfo: { name: 'inspector', version: '1' },
    },
  });
  await runner.start(task);
  expect((await store.tasks.get(task.id, 'all'))?.result).toEqual({
    content: [{ type: 'text', text: 'alice with inspector, elicitation yes' }],
  });
});
