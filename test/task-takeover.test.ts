// Taking over the tasks of an instance that is gone (src/core/task-takeover.ts), with the runner
// that runs them, on the memory store and on pg (two stores on one database: two instances). A
// crashed instance is one whose lease ran out (a lease of 0 ms); a drained one let go of its leases
// when its runner closed. Nothing waits for a clock: leases end by length 0 or by the drain.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineTool, text } from '../src/core/define.js';
import { Registry } from '../src/core/registry.js';
import { TaskRunner } from '../src/core/task-runner.js';
import { instanceStoppedError, TaskTakeover } from '../src/core/task-takeover.js';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { changeNotifier } from '../src/store/channel/changes.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { MemorySessionStore } from '../src/store/memory-store.js';
import type { NewTask, TaskCaller } from '../src/store/tasks/types.js';
import type { SessionStore } from '../src/store/types.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const quiet = createLogger('error');
const HOUR = 3_600_000;
const SETTLED = { timeout: 30_000, interval: 20 };
const CALLER: TaskCaller = {
  principal: { id: 'alice', method: 'api_key' },
  clientCapabilities: {},
  clientInfo: { name: 'c', version: '1' },
};

/** Holds until the test opens it (or its task is stopped); says who it ran for and how it ended. */
const opened = new Map<string, () => void>();
const hold = defineTool({
  name: 'hold',
  description: 'Waits until the test lets it go.',
  input: { label: z.string() },
  async handler({ label }, ctx) {
    await new Promise<void>((resolve) => {
      opened.set(label, resolve);
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return text(ctx.signal.aborted ? `stopped ${label}` : `${label} done for ${ctx.principal?.id}`);
  },
});
const registry = new Registry([{ name: 'test', description: 'test', tools: [hold] }]);

let db: TestDatabase | undefined;
const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await db?.drop();
});

/** One instance: its runner and its takeover over its store. */
function instance(store: SessionStore, owner: string, options: { intervalMs?: number; active?: () => boolean } = {}) {
  const runner = new TaskRunner({
    tasks: store.tasks,
    channel: store.channel,
    registry,
    owner,
    leaseMs: HOUR,
    changes: changeNotifier(store.channel),
    logger: quiet,
  });
  const takeover = new TaskTakeover({
    tasks: store.tasks,
    runner,
    intervalMs: options.intervalMs ?? HOUR,
    batch: 10,
    active: options.active ?? (() => true),
    logger: quiet,
  });
  closers.push(async () => {
    await takeover.close();
    await runner.close();
  });
  return { runner, takeover };
}

const kinds = [
  {
    name: 'memory',
    open: async () => {
      const store = new MemorySessionStore({ ttlMs: HOUR, idleTimeoutMs: HOUR });
      closers.push(() => store.close());
      return { a: store as SessionStore, b: store as SessionStore, statements: undefined as (() => number) | undefined };
    },
  },
  {
    name: 'pg',
    open: async () => {
      db ??= await createTestDatabase('baton_takeover');
      const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }, {});
      const [a, b] = await Promise.all(
        [0, 1].map(
          async () => new DatabaseSessionStore(await openNodeDatabase(config), { ttlMs: HOUR, idleTimeoutMs: HOUR }, { logger: quiet }),
        ),
      );
      closers.push(
        () => a!.close(),
        () => b!.close(),
      );
      await a!.ready();
      await b!.ready();
      return { a: a as SessionStore, b: b as SessionStore, statements: () => b!.database.statements.count };
    },
  },
];

let serial = 0;
function newTask(label: string, overrides: Partial<NewTask> = {}): NewTask {
  return {
    credentialHash: `t${serial++}`.padEnd(64, '0'),
    tool: 'hold',
    arguments: { label },
    ttlMs: HOUR,
    rerunnable: true,
    lease: { owner: 'crashed', ms: 0 },
    caller: CALLER,
    ...overrides,
  };
}

describe.each(kinds)('takeover on the $name store', (kind) => {
  let a: SessionStore;
  let b: SessionStore;
  let statements: (() => number) | undefined;

  it('opens', async () => {
    ({ a, b, statements } = await kind.open());
  });

  it('re-runs a task that may run again from its start, for its stored caller; fails one that may not, saying its instance stopped; leaves a live one alone', async () => {
    const label = `${kind.name}-crash`;
    const rerunnable = await a.tasks.create(newTask(label, { inputResponses: { earlier: { action: 'accept' } } }));
    const once = await a.tasks.create(newTask(`${kind.name}-once`, { rerunnable: false }));
    const live = await a.tasks.create(newTask(`${kind.name}-live`, { lease: { owner: 'alive', ms: HOUR } }));
    const { runner, takeover } = instance(b, `${kind.name}-b`);

    const report = await takeover.run();
    expect(report.rerun).toEqual([rerunnable.id]);
    expect(report.failed).toEqual([once.id]);
    expect(runner.running).toEqual([rerunnable.id]);

    const failed = await b.tasks.get(once.id, 'all');
    expect(failed).toMatchObject({
      status: 'failed',
      lease: undefined,
      attempts: 2,
      error: instanceStoppedError({ tool: 'hold', attempts: 2 }),
    });
    expect((failed!.error as { message: string }).message).toMatch(
      /instance that was running this task stopped.*not marked as safe to run twice/,
    );

    // Re-run here with what it had received, under this instance's lease.
    expect(await b.tasks.get(rerunnable.id, 'all')).toMatchObject({ status: 'working', attempts: 2, lease: { owner: `${kind.name}-b` } });
    await vi.waitFor(() => expect(opened.has(label)).toBe(true), SETTLED);
    opened.get(label)!();
    await report.runs;
    expect((await b.tasks.get(rerunnable.id, 'all'))?.result).toEqual({ content: [{ type: 'text', text: `${label} done for alice` }] });
    expect(await b.tasks.get(live.id, 'all')).toMatchObject({ status: 'working', lease: { owner: 'alive' }, attempts: 1 });
    await a.tasks.cancel(live.id, 'all');

    // Nothing more to take: one statement.
    const before = statements?.();
    expect(await takeover.run()).toMatchObject({ rerun: [], failed: [] });
    if (statements) expect(statements() - before!).toBe(1);
  });

  it('lets go of the tasks still running when an instance drains; another takes them over at once and its handler writes nothing', async () => {
    const label = `${kind.name}-drain`;
    const drained = instance(a, `${kind.name}-draining`);
    const task = await a.tasks.create(newTask(label, { lease: { owner: `${kind.name}-draining`, ms: HOUR } }));
    const first = drained.runner.start(task);
    await vi.waitFor(() => expect(opened.has(label)).toBe(true), SETTLED);
    opened.delete(label);

    await drained.runner.close();
    await first;
    // Released, not failed, and not written over by what the stopped handler returned.
    expect(await a.tasks.get(task.id, 'all')).toMatchObject({ status: 'working', lease: undefined, result: undefined });

    // The lease was an hour long: nobody waits for it.
    const other = instance(b, `${kind.name}-other`);
    const report = await other.takeover.run();
    expect(report.rerun).toEqual([task.id]);
    await vi.waitFor(() => expect(opened.has(label)).toBe(true), SETTLED);
    opened.get(label)!();
    await report.runs;
    expect(await b.tasks.get(task.id, 'all')).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('looks at most once per interval from requests, and not at all while the instance drains', async () => {
    let active = true;
    const { takeover } = instance(b, `${kind.name}-throttled`, { intervalMs: HOUR, active: () => active });
    const before = statements?.();
    const look = takeover.runIfDue();
    expect(look).toBeDefined();
    expect(takeover.runIfDue()).toBeUndefined();
    await look;
    expect(takeover.runIfDue()).toBeUndefined();
    if (statements) expect(statements() - before!).toBe(1);

    active = false;
    const task = await a.tasks.create(newTask(`${kind.name}-draining-instance`));
    expect((await takeover.run()).rerun).toEqual([]);
    expect(await a.tasks.get(task.id, 'all')).toMatchObject({ attempts: 1 });
    await a.tasks.cancel(task.id, 'all');
  });
});
