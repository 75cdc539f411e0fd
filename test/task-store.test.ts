// Tasks in the store (src/store/tasks/), on the memory store and on the database store over pglite,
// pg and neon-http (two stores on one database: two instances): records bound to their credential (and 2025 session), the cap on open tasks, the state
// rules (a terminal task never changes), input requests answered in parts, idempotent cancel,
// leases taken over by another instance once they ran out, the sweep, one statement per
// operation, and the change published on the task's topic for the other instance to hear.
// Lease and ttl ends are reached with a length of 0 (over at once), never by waiting.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import { MemorySessionStore } from '../src/store/memory-store.js';
import { taskTopic } from '../src/store/channel/topics.js';
import type { Message } from '../src/store/channel/types.js';
import { TaskRefusedError } from '../src/store/errors.js';
import type { NewTask, TaskCaller } from '../src/store/tasks/types.js';
import type { SessionLimits, SessionStore } from '../src/store/types.js';
import { driverDatabases } from './helpers/drivers.js';
import { deferred } from './helpers/gate.js';

const quiet = createLogger('error');
const HOUR = 3_600_000;
const LIMITS: SessionLimits = { ttlMs: HOUR, idleTimeoutMs: HOUR, maxOpenTasksPerCredential: 3 };
const ALICE = 'a'.repeat(64);
/** Whom a task's handler runs for: kept with the task, for an instance that takes it over. */
const CREATOR: TaskCaller = {
  principal: { id: 'key-1', method: 'jwt', claims: { sub: 'alice', roles: ['reader'] } },
  clientCapabilities: {
    elicitation: { form: {} },
    extensions: { 'io.modelcontextprotocol/tasks': {} },
  } as TaskCaller['clientCapabilities'],
  clientInfo: { name: 'creator-client', version: '1.2.3' },
};
const CONTINUER: TaskCaller = { principal: undefined, clientCapabilities: {}, clientInfo: { name: 'other-client', version: '9' } };
const BOB = 'b'.repeat(64);

const { setups } = driverDatabases('baton_tasks');

interface Instances {
  /** Two stores that share nothing but where tasks are kept (one for the memory store). */
  a: SessionStore;
  b: SessionStore;
  /** Statements both stores sent so far; undefined for the memory store. */
  statements: (() => number) | undefined;
}

const opened: SessionStore[] = [];
const pgliteDir = mkdtempSync(join(tmpdir(), 'baton-tasks-pglite-'));
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  rmSync(pgliteDir, { recursive: true, force: true });
});

const kinds: { name: string; open: () => Promise<Instances> }[] = [
  {
    name: 'memory',
    open: async () => {
      const store = new MemorySessionStore(LIMITS);
      opened.push(store);
      return { a: store, b: store, statements: undefined };
    },
  },
  // One process only (its folder is locked): one store plays both instances, and delivers what it
  // publishes in process.
  {
    name: 'pglite',
    open: async () => {
      const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pglite', pglite_dir: pgliteDir } }, {});
      const store = new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, { logger: quiet });
      opened.push(store);
      await store.ready();
      return { a: store, b: store, statements: () => store.database.statements.count };
    },
  },
  ...setups.map((setup) => ({
    name: setup.name,
    open: async (): Promise<Instances> => {
      const config = parseConfig({ sessions: { store: 'database' }, database: setup.database() }, {});
      const [a, b] = await Promise.all(
        [0, 1].map(async () => new DatabaseSessionStore(await openNodeDatabase(config), LIMITS, { pollIntervalMs: 20, logger: quiet })),
      );
      opened.push(a!, b!);
      await a!.ready();
      await b!.ready();
      return { a: a!, b: b!, statements: () => a!.database.statements.count + b!.database.statements.count };
    },
  })),
];

let serial = 0;
/** A new task of a credential nobody else uses in this file, unless one is given. */
function newTask(overrides: Partial<NewTask> = {}): NewTask {
  return {
    credentialHash: `c${serial++}`.padEnd(64, '0'),
    tool: 'slow_compute',
    arguments: { seconds: 5, label: 'test' },
    ttlMs: HOUR,
    rerunnable: false,
    lease: { owner: 'instance-a', ms: HOUR },
    caller: CREATOR,
    ...overrides,
  };
}

describe.each(kinds)('tasks on the $name store', (kind) => {
  let a: SessionStore;
  let b: SessionStore;
  let statements: Instances['statements'];

  it('opens', async () => {
    ({ a, b, statements } = await kind.open());
  });

  /** Runs `run`, checking that it sent exactly one statement (the database store). */
  async function one<T>(run: () => Promise<T>): Promise<T> {
    const before = statements?.();
    const value = await run();
    if (statements) expect(statements() - before!).toBe(1);
    return value;
  }

  it('stores a task leased to its creator, with an unguessable id, seen only by its credential (and session)', async () => {
    const created = await one(() => a.tasks.create(newTask({ credentialHash: ALICE, sessionId: 's1' })));
    expect(created.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({
      credentialHash: ALICE,
      sessionId: 's1',
      tool: 'slow_compute',
      arguments: { seconds: 5, label: 'test' },
      status: 'working',
      inputRequests: {},
      inputResponses: {},
      ttlMs: HOUR,
      lease: { owner: 'instance-a' },
      rerunnable: false,
      attempts: 1,
      caller: CREATOR,
    });
    expect(created.expiresAt.getTime() - created.createdAt.getTime()).toBe(HOUR);

    // Written before the id is known to anyone: the other instance reads it at once.
    expect(await one(() => a.tasks.get(created.id, { credentialHash: ALICE }))).toEqual(created);
    expect(await b.tasks.get(created.id, { credentialHash: ALICE, sessionId: 's1' })).toEqual(created);
    // Another credential, or another session, gets what an unknown task gets.
    expect(await b.tasks.get(created.id, { credentialHash: BOB })).toBeUndefined();
    expect(await b.tasks.get(created.id, { credentialHash: ALICE, sessionId: 's2' })).toBeUndefined();
    // A request of no session (2026-07-28) sees no task of a 2025 session, nor changes one.
    expect(await one(() => b.tasks.get(created.id, { credentialHash: ALICE, sessionId: null }))).toBeUndefined();
    expect(await b.tasks.cancel(created.id, { credentialHash: ALICE, sessionId: null })).toBeUndefined();
    expect(await b.tasks.get('no-such-task', { credentialHash: ALICE })).toBeUndefined();
    expect(await b.tasks.cancel(created.id, { credentialHash: BOB })).toBeUndefined();
    expect(await b.tasks.respond(created.id, { credentialHash: BOB }, { x: 1 })).toBeUndefined();
    expect((await a.tasks.get(created.id, 'all'))?.status).toBe('working');

    const other = await a.tasks.create(newTask({ credentialHash: ALICE, sessionId: 's2' }));
    const third = await a.tasks.create(newTask({ credentialHash: ALICE }));
    await a.tasks.create(newTask({ credentialHash: BOB }));
    // Newest first; a session sees its own tasks only; pages follow each other.
    const listed = await one(() => a.tasks.list({ credentialHash: ALICE }));
    expect(listed.tasks.map((t) => t.id)).toEqual([third.id, other.id, created.id]);
    expect(listed.nextCursor).toBeUndefined();
    expect((await a.tasks.list({ credentialHash: ALICE, sessionId: 's1' })).tasks.map((t) => t.id)).toEqual([created.id]);
    expect((await a.tasks.list({ credentialHash: ALICE, sessionId: null })).tasks.map((t) => t.id)).toEqual([third.id]);
    const first = await a.tasks.list({ credentialHash: ALICE }, { limit: 2 });
    expect(first.tasks.map((t) => t.id)).toEqual([third.id, other.id]);
    const second = await b.tasks.list({ credentialHash: ALICE }, { limit: 2, cursor: first.nextCursor });
    expect(second).toEqual({ tasks: [expect.objectContaining({ id: created.id })] });
  });

  it('lists every task for operators, filtered by status and tool, newest first, in pages', async () => {
    // A tool name of its own per store, so that this file's other tasks stay out of the lists.
    const tool = `filtered_${kind.name}`;
    const [first, second, third] = [
      await a.tasks.create(newTask({ tool })),
      await a.tasks.create(newTask({ tool, credentialHash: BOB })),
      await b.tasks.create(newTask({ tool })),
    ];
    await a.tasks.cancel(second.id, 'all');
    const ids = (page: { tasks: { id: string }[] }) => page.tasks.map((t) => t.id);
    expect(ids(await one(() => a.tasks.list('all', { tool })))).toEqual([third.id, second.id, first.id]);
    expect(ids(await one(() => b.tasks.list('all', { tool, status: ['working', 'input_required'] })))).toEqual([third.id, first.id]);
    expect(ids(await a.tasks.list('all', { tool, status: ['cancelled'] }))).toEqual([second.id]);
    expect(ids(await a.tasks.list('all', { tool, status: [] }))).toEqual([]);
    // The filters hold across pages.
    const page = await a.tasks.list('all', { tool, status: ['working'], limit: 1 });
    expect(ids(page)).toEqual([third.id]);
    expect(ids(await a.tasks.list('all', { tool, status: ['working'], limit: 1, cursor: page.nextCursor }))).toEqual([first.id]);
    // A credential's reach still applies under the filters.
    expect(ids(await a.tasks.list({ credentialHash: BOB }, { tool }))).toEqual([second.id]);
  });

  it('keeps the answers given before the task existed (input gathered in the request)', async () => {
    const answers = { user_name: { action: 'accept', content: { name: 'Alice' } } };
    const created = await one(() => a.tasks.create(newTask({ inputResponses: answers })));
    expect(created.inputResponses).toEqual(answers);
    expect((await b.tasks.get(created.id, { credentialHash: created.credentialHash }))?.inputResponses).toEqual(answers);
  });

  it('refuses a task past the cap on open tasks of its credential; finished tasks do not count', async () => {
    const credentialHash = 'd'.repeat(64);
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await a.tasks.create(newTask({ credentialHash })));
    const refused = await one(() => a.tasks.create(newTask({ credentialHash })).catch((e: unknown) => e));
    expect(refused).toBeInstanceOf(TaskRefusedError);
    expect((refused as Error).message).toMatch(/Too many open tasks: this credential already has 3 tasks working or waiting for input/);
    expect((await a.tasks.list({ credentialHash })).tasks).toHaveLength(3);
    // Another credential is not affected; a credential nobody checked counts among all open tasks.
    await a.tasks.create(newTask());
    await expect(a.tasks.create(newTask({ capGroup: 'all' }))).rejects.toThrow(TaskRefusedError);

    await a.tasks.cancel(open[0]!.id, { credentialHash });
    expect((await one(() => a.tasks.create(newTask({ credentialHash })))).status).toBe('working');
  });

  it('lets only the lease holder write progress and outcome; a terminal task never changes again', async () => {
    const task = await a.tasks.create(newTask());
    expect(await one(() => b.tasks.settle(task.id, 'instance-b', { status: 'completed', result: { content: [] } }))).toBeUndefined();

    const progress = await one(() => a.tasks.settle(task.id, 'instance-a', { status: 'working', statusMessage: 'half way' }));
    expect(progress).toMatchObject({ status: 'working', statusMessage: 'half way', lease: { owner: 'instance-a' } });
    expect(progress!.updatedAt.getTime()).toBeGreaterThanOrEqual(task.updatedAt.getTime());

    const result = { content: [{ type: 'text', text: 'done' }], isError: true };
    const done = await one(() => a.tasks.settle(task.id, 'instance-a', { status: 'completed', result }));
    expect(done).toMatchObject({ status: 'completed', result, statusMessage: undefined, error: undefined, lease: undefined });

    // Terminal: no outcome, input, cancel or claim moves it.
    expect(await a.tasks.settle(task.id, 'instance-a', { status: 'failed', error: { code: -32603, message: 'late' } })).toBeUndefined();
    expect(await a.tasks.requestInput(task.id, 'instance-a', { q: { method: 'elicitation/create' } })).toBeUndefined();
    expect(await b.tasks.claim('instance-b', HOUR, { id: task.id })).toEqual([]);
    expect((await b.tasks.cancel(task.id, { credentialHash: task.credentialHash }))?.status).toBe('completed');
    expect(await b.tasks.get(task.id, { credentialHash: task.credentialHash })).toEqual(done);

    const failing = await a.tasks.create(newTask());
    const error = { code: -32603, message: 'Internal error: the handler threw' };
    expect(await a.tasks.settle(failing.id, 'instance-a', { status: 'failed', error })).toMatchObject({
      status: 'failed',
      error,
      result: undefined,
    });
  });

  it('keeps input requests and answers in the record: a partial answer keeps input_required, the last one resumes on the instance that got it', async () => {
    const task = await a.tasks.create(newTask());
    const scope = { credentialHash: task.credentialHash };
    const ask = (message: string) => ({ method: 'elicitation/create', params: { message, requestedSchema: { type: 'object' } } });
    const waiting = await one(() =>
      a.tasks.requestInput(task.id, 'instance-a', { first: ask('1?'), second: ask('2?') }, { statusMessage: 'asking' }),
    );
    // Let go of: the task waits in the store alone.
    expect(waiting).toMatchObject({ status: 'input_required', statusMessage: 'asking', lease: undefined });
    expect(Object.keys(waiting!.inputRequests).sort()).toEqual(['first', 'second']);

    const partial = await one(() =>
      b.tasks.respond(
        task.id,
        scope,
        { first: { action: 'accept', content: { n: 1 } }, unknown: { action: 'accept' } },
        { owner: 'instance-b', ms: HOUR },
      ),
    );
    expect(partial).toMatchObject({ accepted: ['first'], resumed: false });
    // Nobody named as the continuing caller: the creator stays whom the handler runs for.
    expect(partial!.task.caller).toEqual(CREATOR);
    expect(partial!.task).toMatchObject({ status: 'input_required', lease: undefined });
    expect(partial!.task.inputRequests).toEqual({ second: ask('2?') });
    expect(partial!.task.inputResponses).toEqual({ first: { action: 'accept', content: { n: 1 } } });

    // Answering a key again changes nothing.
    expect(await b.tasks.respond(task.id, scope, { first: { action: 'decline' } })).toMatchObject({ accepted: [], resumed: false });

    const last = await b.tasks.respond(
      task.id,
      scope,
      { second: { action: 'accept', content: { n: 2 } } },
      { owner: 'instance-b', ms: HOUR },
      CONTINUER,
    );
    expect(last).toMatchObject({ accepted: ['second'], resumed: true });
    // The caller whose answer continued it is whom the handler runs for now, on any instance.
    expect(last!.task.caller).toEqual(CONTINUER);
    expect((await a.tasks.get(task.id, 'all'))!.caller).toEqual(CONTINUER);
    expect(last!.task).toMatchObject({ status: 'working', inputRequests: {}, lease: { owner: 'instance-b' }, attempts: 1 });
    expect(last!.task.inputResponses).toEqual({
      first: { action: 'accept', content: { n: 1 } },
      second: { action: 'accept', content: { n: 2 } },
    });
    // The instance that resumed it now holds it: the first one's writes are refused.
    expect(await a.tasks.settle(task.id, 'instance-a', { status: 'completed', result: {} })).toBeUndefined();
    expect((await b.tasks.settle(task.id, 'instance-b', { status: 'completed', result: { content: [] } }))?.status).toBe('completed');

    // The same last answer sent to both instances at once: one of them resumes the task.
    const raced = await a.tasks.create(newTask());
    await a.tasks.requestInput(raced.id, 'instance-a', { q: ask('?') });
    const both = await Promise.all(
      [a, b].map((store, i) =>
        store.tasks.respond(
          raced.id,
          { credentialHash: raced.credentialHash },
          { q: { action: 'accept' } },
          { owner: `racer-${i}`, ms: HOUR },
        ),
      ),
    );
    expect(both.filter((r) => r!.resumed)).toHaveLength(1);
    expect(both.map((r) => r!.accepted.length).sort()).toEqual([0, 1]);

    // A holder that keeps its lease while it waits is not overtaken by the answer.
    const kept = await a.tasks.create(newTask());
    await a.tasks.requestInput(kept.id, 'instance-a', { q: ask('?') }, { keepLease: true });
    const answered = await b.tasks.respond(
      kept.id,
      { credentialHash: kept.credentialHash },
      { q: { action: 'accept' } },
      { owner: 'instance-b', ms: HOUR },
    );
    expect(answered).toMatchObject({ resumed: false, task: { status: 'working', lease: { owner: 'instance-a' } } });
  });

  it('cancels once and acknowledges again; the instance running it loses its lease', async () => {
    const task = await a.tasks.create(newTask());
    const scope = { credentialHash: task.credentialHash };
    const cancelled = await one(() => a.tasks.cancel(task.id, scope, 'cancelled by the client'));
    expect(cancelled).toMatchObject({ status: 'cancelled', statusMessage: 'cancelled by the client', lease: undefined });
    const again = await one(() => b.tasks.cancel(task.id, scope));
    expect(again).toEqual(await a.tasks.get(task.id, scope));
    expect(again?.statusMessage).toBe('cancelled by the client');
    expect(await a.tasks.renew('instance-a', HOUR)).not.toContain(task.id);
    expect(await a.tasks.settle(task.id, 'instance-a', { status: 'completed', result: {} })).toBeUndefined();
  });

  it('publishes each change on the task topic: the instance running a task hears the answers and the cancel sent to another', async () => {
    const task = await a.tasks.create(newTask());
    const scope = { credentialHash: task.credentialHash };
    const heard: Message[] = [];
    const got = deferred();
    const subscription = a.channel.subscribe(taskTopic(task.id), (m) => {
      heard.push(m);
      if (heard.length === 4) got.resolve();
    });
    try {
      await a.tasks.settle(task.id, 'instance-a', { status: 'working', statusMessage: 'asking' });
      await a.tasks.requestInput(task.id, 'instance-a', { q: { method: 'elicitation/create' } }, { keepLease: true });
      await b.tasks.respond(task.id, scope, { q: { action: 'accept' } }, { owner: 'instance-b', ms: HOUR });
      await b.tasks.cancel(task.id, scope);
      // A change that changes nothing publishes nothing.
      await b.tasks.cancel(task.id, scope);
      await got.promise;
      const statuses = ['working', 'input_required', 'working', 'cancelled'].map((status) => ({ kind: 'task', status }));
      expect(heard.map((m) => m.payload)).toEqual(statuses);
      const kept = await b.channel.read(new Map([[taskTopic(task.id), { at: 0, id: 0 }]]));
      expect(kept.map((m) => m.payload)).toEqual(statuses);
    } finally {
      subscription.unsubscribe();
    }
  });

  it('lets another instance take over a working task once its lease ran out, and only then', async () => {
    const live = await a.tasks.create(newTask({ rerunnable: true }));
    expect(await one(() => a.tasks.claim('instance-b', HOUR, { id: live.id }))).toEqual([]);

    const lapsed = await a.tasks.create(newTask({ rerunnable: true, lease: { owner: 'instance-a', ms: 0 } }));
    const [taken] = await b.tasks.claim('instance-b', HOUR, { id: lapsed.id });
    expect(taken).toMatchObject({ id: lapsed.id, status: 'working', lease: { owner: 'instance-b' }, attempts: 2, rerunnable: true });
    // Once: the lease is live again.
    expect(await a.tasks.claim('instance-c', HOUR, { id: lapsed.id })).toEqual([]);
    // Two instances taking over the same task at the same moment: one gets it.
    const contested = await a.tasks.create(newTask({ rerunnable: true, lease: { owner: 'instance-a', ms: 0 } }));
    const claims = await Promise.all([a, b].map((store, i) => store.tasks.claim(`taker-${i}`, HOUR, { id: contested.id })));
    expect(claims.flat()).toHaveLength(1);
    expect(claims.flat()[0]!.attempts).toBe(2);
    // The first instance's writes are refused; its renewal no longer lists the task.
    expect(await a.tasks.settle(lapsed.id, 'instance-a', { status: 'completed', result: {} })).toBeUndefined();
    const renewed = await one(() => a.tasks.renew('instance-a', HOUR));
    expect(renewed).toContain(live.id);
    expect(renewed).not.toContain(lapsed.id);
    expect(await b.tasks.renew('instance-b', HOUR)).toContain(lapsed.id);

    // A drain lets go of every lease at once; another instance takes them without waiting.
    const released = await one(() => b.tasks.release('instance-b'));
    expect(released).toBeGreaterThanOrEqual(1);
    const batch = await one(() => a.tasks.claim('instance-a', HOUR, { limit: 1_000 }));
    expect(batch.map((t) => t.id)).toContain(lapsed.id);
    expect(batch.every((t) => t.lease?.owner === 'instance-a' && t.status === 'working')).toBe(true);
  });

  it('leaves a handed-over call to whoever claims it by id: the takeover search never takes one, nor the count of tasks', async () => {
    const counted = await a.tasks.countByStatus();
    const call = await a.tasks.create(newTask({ kind: 'call', rerunnable: true, lease: { owner: 'instance-a', ms: 0 } }));
    expect(await a.tasks.countByStatus()).toEqual(counted);
    const task = await a.tasks.create(newTask({ rerunnable: true, lease: { owner: 'instance-a', ms: 0 } }));
    expect(call.kind).toBe('call');
    expect(task.kind).toBe('task');
    const searched = await b.tasks.claim('instance-b', HOUR, { limit: 1_000 });
    expect(searched.map((t) => t.id)).toContain(task.id);
    expect(searched.map((t) => t.id)).not.toContain(call.id);
    const [resumed] = await b.tasks.claim('instance-c', HOUR, { id: call.id });
    expect(resumed).toMatchObject({ id: call.id, kind: 'call', lease: { owner: 'instance-c' } });
  });

  it('forgets tasks past their ttl, and the cleanup sweeps them', async () => {
    const gone = await a.tasks.create(newTask({ ttlMs: 0 }));
    const kept = await a.tasks.create(newTask());
    expect(await a.tasks.get(gone.id, { credentialHash: gone.credentialHash })).toBeUndefined();
    expect(await a.tasks.cancel(gone.id, { credentialHash: gone.credentialHash })).toBeUndefined();
    expect((await a.tasks.list({ credentialHash: gone.credentialHash })).tasks).toEqual([]);
    expect(await a.tasks.claim('instance-b', HOUR, { id: gone.id })).toEqual([]);

    expect(await one(() => a.tasks.sweep(1_000))).toEqual({ removed: 1, more: false });
    await a.tasks.create(newTask({ ttlMs: 0 }));
    const report = await b.cleanup();
    expect(report.tasksRemoved).toBe(1);
    expect(await a.tasks.get(gone.id, 'all')).toBeUndefined();
    expect((await a.tasks.get(kept.id, 'all'))?.id).toBe(kept.id);
  });
});
