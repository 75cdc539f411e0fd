// The operators' command line against a real database: every command through runCli in this
// process (what src/cli/main.ts calls), and the entry points operators type (bin/baton.mjs,
// `npx baton`, `npm run baton --`) as child processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT, freePort, startServer } from './helpers/server.js';
import { RawSession, readMessages } from './helpers/mcp.js';
import { modernRequest } from './helpers/modern.js';
import { waitFor } from './helpers/wait.js';
import { SseReader } from './helpers/sse.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import type { NewTask } from '../src/store/tasks/types.js';
import { newSessionId } from '../src/era-2025/ids.js';
import { runCli } from '../src/cli/run.js';
import { MIGRATIONS } from '../src/store/db/migrations.generated.js';
import { LOCK_FILE, lockFolder } from '../src/store/db/folder-lock.js';
import { hostname } from 'node:os';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program from the repository root with the Node running the tests first on PATH. */
function run(file: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: ROOT,
        env: {
          ...process.env,
          PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
          BATON_CONFIG: '',
          BATON_CONFIG_YAML: '',
          SESSIONS_STORE: '',
          DATABASE_URL: '',
          ...env,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `baton <args>` with exactly `env` as the environment, from the repository root. */
async function baton(args: string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { out: (line) => (stdout += `${line}\n`), err: (line) => (stderr += `${line}\n`) }, { env, cwd: ROOT });
  return { code, stdout, stderr };
}

let db: TestDatabase;
let empty: TestDatabase;
let store: DatabaseSessionStore;
let admin: pg.Client;
let dbEnv: Record<string, string>;

beforeAll(async () => {
  [db, empty] = await Promise.all([createTestDatabase('baton_cli'), createTestDatabase('baton_cli_empty')]);
  dbEnv = { SESSIONS_STORE: 'database', DATABASE_URL: db.url };
  store = new DatabaseSessionStore(openPg({ dsn: db.url, statementTimeoutMs: 5_000 }), { ttlMs: 3_600_000, idleTimeoutMs: 1_800_000 });
  await store.ready();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await store?.close();
  await Promise.all([db?.drop(), empty?.drop()]);
});

async function createSession(credentialHash = '', id = newSessionId()): Promise<string> {
  await store.create({
    id,
    credentialHash,
    protocolVersion: '2025-11-25',
    clientCapabilities: {},
    clientInfo: { name: 'cli-test', version: '1' },
    state: {},
  });
  return id;
}

async function exists(id: string): Promise<boolean> {
  return ((await admin.query('select 1 from baton.sessions where id = $1', [id])).rowCount ?? 0) > 0;
}

describe('usage and configuration errors', () => {
  it('prints usage for help (exit 0), and with an error for a missing or unknown command or option (exit 2)', async () => {
    const [help, none, unknown, badOption, misplaced, badLimit] = await Promise.all([
      baton(['help']),
      baton([]),
      baton(['frobnicate']),
      baton(['sessions', 'list', '--colour']),
      baton(['cleanup', '--limit', '3']),
      baton(['sessions', 'list', '--limit', 'many']),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: baton <command>');
    for (const [result, message] of [
      [none, 'no command given'],
      [unknown, 'unknown command "frobnicate"'],
      [badOption, "Unknown option '--colour'"],
      [misplaced, 'option --limit does not apply to "cleanup"'],
      [badLimit, '--limit: expected a whole number from 1 to 10000, got "many"'],
    ] as const) {
      expect(result.code, message).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('Usage: baton <command>');
    }
  });

  it('explains that the memory store cannot be reached from the command line (exit 2)', async () => {
    const result = await baton(['sessions', 'list']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('sessions.store: "memory" keeps sessions inside each server process');
    expect(result.stderr).toContain('set sessions.store: database (or SESSIONS_STORE=database)');
  });

  it('reports a configuration error with its key (exit 2), and an unreachable database (exit 1)', async () => {
    const port = await freePort();
    const [invalid, unreachable] = await Promise.all([
      baton(['cleanup'], { ...dbEnv, SESSIONS_TTL: 'forever' }),
      baton(['cleanup'], { SESSIONS_STORE: 'database', DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing` }),
    ]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('SESSIONS_TTL (environment): invalid duration "forever"');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /^error: database unavailable: connect ECONNREFUSED .*; if it lasts, check that Postgres is running and reachable at the host and port in DATABASE_URL/m,
    );
  });
});

describe('migrate', () => {
  it('applies the bundled migrations once and says so; then finds nothing to do', async () => {
    const first = await baton(['migrate'], { SESSIONS_STORE: 'database', DATABASE_URL: empty.url });
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe(`${MIGRATIONS.map((m) => `applied ${m.tag}\n`).join('')}${MIGRATIONS.length} migration(s) applied\n`);
    const again = await baton(['migrate'], { SESSIONS_STORE: 'database', DATABASE_URL: empty.url });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to apply');
  });

  it('tells to migrate when the table is missing and auto_migrate is off', async () => {
    const fresh = await createTestDatabase('baton_cli_fresh');
    try {
      const result = await baton(['sessions', 'list'], {
        SESSIONS_STORE: 'database',
        DATABASE_URL: fresh.url,
        BATON_CONFIG_YAML: 'database:\n  auto_migrate: false\n',
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('run "baton migrate"');
    } finally {
      await fresh.drop();
    }
  });
});

describe('sessions list', () => {
  it('shows id prefixes, binding and times, never a full id or a credential hash; --limit', async () => {
    await admin.query('delete from baton.sessions');
    const hash = 'c0ffee'.repeat(10);
    const bound = await createSession(hash);
    const anonymous = await createSession();
    const result = await baton(['sessions', 'list'], dbEnv);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+BINDING\s+CREATED\s+LAST ACTIVE\s+ENDS$/);
    expect(lines).toHaveLength(4);
    // Most recently active first: the anonymous session was created last.
    expect(lines[1]).toMatch(
      new RegExp(`^${escapeRegExp(anonymous.slice(0, 8))}…\\s+anonymous\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ`),
    );
    expect(lines[2]).toMatch(new RegExp(`^${escapeRegExp(bound.slice(0, 8))}…\\s+bound\\s`));
    // The configuration's limits apply (30m each by default): the idle deadline comes first.
    expect(lines[2]).toMatch(/\(in (29m\d+s|30m), idle\)$/);
    expect(lines[3]).toBe('2 live session(s), most recently active first');
    for (const secret of [bound, anonymous, hash, bound.slice(0, 9), anonymous.slice(0, 9)]) expect(result.stdout).not.toContain(secret);

    const limited = await baton(['sessions', 'list', '--limit', '1'], dbEnv);
    expect(limited.stdout.trim().split('\n')).toHaveLength(3);
    expect(limited.stdout).toContain('there may be more: --limit 10');
  });

  it('reads the same configuration file as the server (BATON_CONFIG)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-'));
    try {
      writeFileSync(join(dir, 'baton.yaml'), 'sessions:\n  store: database\ndatabase:\n  dsn: ${CLI_TEST_DSN}\n');
      const result = await baton(['sessions', 'list'], { BATON_CONFIG: join(dir, 'baton.yaml'), CLI_TEST_DSN: db.url });
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/live session\(s\)|no live sessions/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sessions revoke', () => {
  it('removes a session by its full id, bound or not; a second time it is not found (exit 1)', async () => {
    const id = await createSession('some-credential-hash');
    // `--` because a base64url id may start with "-".
    const revoked = await baton(['sessions', 'revoke', '--', id], dbEnv);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked session ${id.slice(0, 8)}…`);
    expect(revoked.stdout).not.toContain(id);
    expect(await exists(id)).toBe(false);
    expect((await store.open(id, 'some-credential-hash')).status).toBe('not_found');

    const again = await baton(['sessions', 'revoke', '--', id], dbEnv);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`not found: no session with id "${id.slice(0, 8)}…"`);
  });

  it('explains that an id starting with "-" goes after "--"', async () => {
    const id = await createSession('', `-${newSessionId().slice(1)}`);
    const refused = await baton(['sessions', 'revoke', id], dbEnv);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`goes after "--": baton sessions revoke -- ${id.slice(0, 8)}…`);
    expect(await exists(id)).toBe(true);
    expect((await baton(['sessions', 'revoke', '--', id], dbEnv)).code).toBe(0);
    expect(await exists(id)).toBe(false);
  });

  it('takes the prefix that list shows with --prefix, only when it is unique', async () => {
    // Not starting with "-": such a prefix goes after "--" (tested above).
    const id = await createSession('', `A${newSessionId().slice(1)}`);
    const shown = `${id.slice(0, 8)}…`;
    const revoked = await baton(['sessions', 'revoke', '--prefix', shown], dbEnv);
    expect(revoked.code).toBe(0);
    expect(await exists(id)).toBe(false);

    const twins = [
      await createSession('', 'TwinTwin-one-0123456789012345678901234567'),
      await createSession('', 'TwinTwin-two-0123456789012345678901234567'),
    ];
    const [ambiguous, tooShort, plainPrefix] = await Promise.all([
      baton(['sessions', 'revoke', '--prefix', 'TwinTwin'], dbEnv),
      baton(['sessions', 'revoke', '--prefix', 'Twin'], dbEnv),
      baton(['sessions', 'revoke', 'TwinTwin'], dbEnv),
    ]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('ambiguous: more than one session id starts with "TwinTwin"');
    expect(tooShort.code).toBe(2);
    expect(tooShort.stderr).toContain('a prefix needs at least 8 characters');
    expect(plainPrefix.code).toBe(1);
    expect(plainPrefix.stderr).toContain('use --prefix');
    for (const twin of twins) expect(await exists(twin)).toBe(true);
  });

  it('ends what the session has open on a running server: its GET stream and a call waiting for the client', async () => {
    const server = await startServer({ ...dbEnv, BATON_TOOLSETS: 'conformance' });
    try {
      const session = new RawSession((r) => fetch(r), server.url);
      expect((await session.initialize({ elicitation: {} })).status).toBe(200);
      const get = await session.send('GET', undefined);
      expect(get.status).toBe(200);
      const stream = new SseReader(get);
      await stream.next();
      // A call waiting for the client's answer to its elicitation: in flight until something ends it.
      const call = await session.send('POST', {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'test_elicitation', arguments: {} },
      });
      expect(call.status).toBe(200);
      const callStream = new SseReader(call);
      expect((await callStream.until((event) => event.message?.method === 'elicitation/create')).length).toBeGreaterThan(0);

      const revoked = await baton(['sessions', 'revoke', '--', session.id], dbEnv);
      expect(revoked.code, revoked.stderr).toBe(0);
      // Both end by themselves: nothing else would end them.
      expect(await stream.rest()).toEqual([]);
      expect((await callStream.rest()).filter((event) => 'result' in (event.message ?? {}))).toEqual([]);
      expect((await session.callTool('test_simple_text')).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});

describe('tasks', () => {
  const HOUR = 3_600_000;
  const HASH = 'c0ffee'.repeat(10);
  const OWNER = 'instance-cli';
  let serial = 0;
  /** A task stored as an instance would store it: leased to its creator. */
  const createTask = (overrides: Partial<NewTask> = {}) =>
    store.tasks.create({
      credentialHash: HASH,
      tool: 'slow_compute',
      arguments: { seconds: 5, label: `label-${serial++}` },
      ttlMs: HOUR,
      rerunnable: true,
      lease: { owner: OWNER, ms: 30_000 },
      caller: { principal: undefined, clientCapabilities: undefined, clientInfo: undefined },
      ...overrides,
    });
  const statusOf = async (id: string) => (await store.tasks.get(id, 'all'))?.status;
  const prefix = (id: string) => `${id.slice(0, 8)}…`;
  /** Never in any output: the full ids, credential hashes, a label argument's value. */
  const expectNoSecrets = (output: string, ids: string[]) => {
    for (const secret of [HASH, ...ids, ...ids.map((id) => id.slice(0, 9))]) expect(output).not.toContain(secret);
  };

  it('list: newest first with id prefixes, kind, status, tool, binding and lease, never a full id or a credential hash; filters, pages, --json', async () => {
    await admin.query('delete from baton.tasks');
    const working = await createTask();
    const anonymous = await createTask({ credentialHash: '', sessionId: newSessionId() });
    const done = await createTask({ tool: 'failing_job' });
    await store.tasks.settle(done.id, OWNER, { status: 'completed', result: { content: [], isError: true } });
    const ids = [working.id, anonymous.id, done.id];

    const result = await baton(['tasks', 'list'], dbEnv);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+STATUS\s+TOOL\s+BINDING\s+CREATED\s+UPDATED\s+LEASE\s+ATTEMPTS$/);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(new RegExp(`^${escapeRegExp(prefix(done.id))}\\s+task\\s+completed\\s+failing_job\\s+bound\\s+\\d{4}-`));
    expect(lines[1]).toMatch(/\s-\s+1$/);
    expect(lines[2]).toMatch(
      new RegExp(
        `^${escapeRegExp(prefix(anonymous.id))}\\s+task\\s+working\\s+slow_compute\\s+anonymous, session ${escapeRegExp(prefix(anonymous.sessionId!))}\\s`,
      ),
    );
    expect(lines[3]).toMatch(new RegExp(`^${escapeRegExp(prefix(working.id))}\\s+task\\s+working\\s+slow_compute\\s+bound\\s`));
    expect(lines[3]).toMatch(/\sinstance-cli \(in (29|30)s\)\s+1$/);
    expect(lines[4]).toBe('3 task(s), newest first');
    expectNoSecrets(result.stdout, ids);

    const [open, failing, firstPage] = await Promise.all([
      baton(['tasks', 'list', '--status', 'working,input_required'], dbEnv),
      baton(['tasks', 'list', '--tool', 'failing_job', '--status', 'open'], dbEnv),
      baton(['tasks', 'list', '--limit', '2'], dbEnv),
    ]);
    expect(open.stdout).not.toContain(prefix(done.id));
    expect(open.stdout).toContain('2 task(s) with status working or input_required, newest first');
    expect(failing.stdout).toBe('no tasks with status working or input_required of tool failing_job\n');
    const more = firstPage.stdout.trim().split('\n');
    expect(more).toHaveLength(4);
    expect(more[3]).toBe(`2 task(s), newest first; there may be more: --after ${prefix(anonymous.id)}`);
    const secondPage = await baton(['tasks', 'list', '--limit', '2', '--after', prefix(anonymous.id)], dbEnv);
    expect(secondPage.code, secondPage.stderr).toBe(0);
    expect(secondPage.stdout.trim().split('\n').slice(1, -1)).toEqual([
      expect.stringMatching(new RegExp(`^${escapeRegExp(prefix(working.id))}`)),
    ]);

    const json = await baton(['tasks', 'list', '--json', '--status', 'completed'], dbEnv);
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout);
    expect(listed).toEqual({
      tasks: [
        expect.objectContaining({
          idPrefix: done.id.slice(0, 8),
          kind: 'task',
          status: 'completed',
          tool: 'failing_job',
          bound: true,
          sessionIdPrefix: null,
          lease: null,
          attempts: 1,
          rerunnable: true,
          result: { contentBlocks: 0, types: [], isError: true, structuredContent: false, text: null },
          error: null,
        }),
      ],
      after: null,
    });
    expectNoSecrets(json.stdout, ids);

    // A call handed over in a drain is stored as a record of kind call: listed, and named so.
    const call = await createTask({ kind: 'call', credentialHash: 'handover:' + HASH, tool: 'sleep' });
    const withCall = await baton(['tasks', 'list', '--tool', 'sleep'], dbEnv);
    expect(withCall.stdout.split('\n')[1]).toMatch(new RegExp(`^${escapeRegExp(prefix(call.id))}\\s+call\\s+working\\s+sleep\\s`));
    const shownCall = await baton(['tasks', 'show', '--', call.id], dbEnv);
    expect(shownCall.stdout).toMatch(/^kind\s+call handed over in a drain: its client sees no task/m);
  });

  it('show: everything about one task, by its full id or the prefix list shows; a result and an error summarised; --json', async () => {
    const running = await createTask({ statusMessage: 'warming up' });
    const shown = await baton(['tasks', 'show', '--', running.id], dbEnv);
    expect(shown.code, shown.stderr).toBe(0);
    const field = (output: string, name: string) =>
      output
        .split('\n')
        .find((line) => line.startsWith(`${name} `))
        ?.slice(name.length)
        .trim();
    expect(field(shown.stdout, 'task')).toBe(prefix(running.id));
    expect(field(shown.stdout, 'kind')).toBe('task: its client created it and reads it by id');
    expect(field(shown.stdout, 'status')).toBe('working: warming up');
    expect(field(shown.stdout, 'tool')).toBe('slow_compute (arguments: label, seconds)');
    expect(field(shown.stdout, 'binding')).toBe('bound to a credential; a 2026-07-28 task (no session)');
    expect(field(shown.stdout, 'created')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \((\d+s ago|now)\)$/);
    expect(field(shown.stdout, 'expires')).toMatch(/\(in (59m\d+s|1h), ttl 1h\)$/);
    expect(field(shown.stdout, 'lease')).toMatch(/^instance-cli until \d{4}-.*Z \(in (29|30)s\)$/);
    expect(field(shown.stdout, 'attempts')).toBe('1');
    expect(field(shown.stdout, 'rerunnable')).toBe('yes: runs again from its start when its instance is gone');
    expect(field(shown.stdout, 'result')).toBe('none yet');
    expectNoSecrets(shown.stdout, [running.id]);

    const asking = await createTask({ rerunnable: false });
    await store.tasks.requestInput(asking.id, OWNER, { confirm: { method: 'elicitation/create', params: { message: 'Sure?' } } });
    const completed = await createTask();
    await store.tasks.settle(completed.id, OWNER, {
      status: 'completed',
      result: {
        content: [
          { type: 'text', text: `computed ${'x'.repeat(200)}` },
          { type: 'image', data: 'AAAA', mimeType: 'image/png' },
        ],
      },
    });
    const failed = await createTask({ tool: 'protocol_error_job' });
    await store.tasks.settle(failed.id, OWNER, {
      status: 'failed',
      error: { code: -32603, message: 'protocol_error_job broke on purpose' },
    });

    const [input, result, error] = await Promise.all([
      baton(['tasks', 'show', '--prefix', prefix(asking.id)], dbEnv),
      baton(['tasks', 'show', '--', completed.id], dbEnv),
      baton(['tasks', 'show', '--', failed.id], dbEnv),
    ]);
    expect(field(input.stdout, 'status')).toBe('input_required');
    expect(field(input.stdout, 'input asked')).toBe('confirm (elicitation/create)');
    expect(field(input.stdout, 'input given')).toBe('none');
    expect(field(input.stdout, 'lease')).toBe('none: waiting for input; the instance that receives the answers continues it');
    expect(field(input.stdout, 'rerunnable')).toBe('no: ends failed if its instance is gone');
    expect(field(result.stdout, 'lease')).toBe('none: finished');
    expect(field(result.stdout, 'result')).toBe(`2 content block(s) (text, image); isError: no; text: "computed ${'x'.repeat(91)}…"`);
    expect(field(error.stdout, 'status')).toBe('failed');
    expect(field(error.stdout, 'error')).toBe('-32603 protocol_error_job broke on purpose');

    const json = await baton(['tasks', 'show', '--json', '--', asking.id], dbEnv);
    expect(JSON.parse(json.stdout)).toEqual({
      idPrefix: asking.id.slice(0, 8),
      kind: 'task',
      status: 'input_required',
      statusMessage: null,
      tool: 'slow_compute',
      argumentNames: ['label', 'seconds'],
      bound: true,
      sessionIdPrefix: null,
      createdAt: asking.createdAt.toISOString(),
      updatedAt: expect.any(String),
      expiresAt: asking.expiresAt.toISOString(),
      ttlMs: HOUR,
      lease: null,
      attempts: 1,
      rerunnable: false,
      inputRequests: { confirm: 'elicitation/create' },
      inputResponseKeys: [],
      result: null,
      error: null,
    });
    expectNoSecrets(json.stdout, [asking.id]);
  });

  it('cancel: through the store, once, then acknowledged again; a finished task is left as it is', async () => {
    const task = await createTask();
    const cancelled = await baton(['tasks', 'cancel', '--', task.id], dbEnv);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe(
      `cancelled task ${prefix(task.id)} (slow_compute, was working): the instance running its handler stops it, and its client reads status cancelled\n`,
    );
    expect(await store.tasks.get(task.id, 'all')).toMatchObject({
      status: 'cancelled',
      statusMessage: 'cancelled by an operator',
      lease: undefined,
    });
    const again = await baton(['tasks', 'cancel', '--prefix', prefix(task.id)], dbEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`task ${prefix(task.id)} had already ended: cancelled; nothing changed\n`);

    const finished = await createTask();
    await store.tasks.settle(finished.id, OWNER, { status: 'completed', result: { content: [] } });
    const late = await baton(['tasks', 'cancel', '--', finished.id], dbEnv);
    expect(late.code).toBe(0);
    expect(late.stdout).toBe(`task ${prefix(finished.id)} had already ended: completed; nothing changed\n`);
    expect(await statusOf(finished.id)).toBe('completed');
  });

  it('refuses bad input with a clear error and changes nothing: unknown ids (exit 1), bad flags and arguments (exit 2)', async () => {
    const task = await createTask();
    const twins = [await createTask(), await createTask()];
    await admin.query(`update baton.tasks set id = 'TwinTask-' || substr(id, 10) where id = any($1)`, [twins.map((t) => t.id)]);
    const results = await Promise.all([
      baton(['tasks', 'cancel', '--', `x${task.id.slice(1)}`], dbEnv),
      baton(['tasks', 'show', '--', 'no-such-task-0123456789012345678901234567'], dbEnv),
      baton(['tasks', 'cancel', task.id.slice(0, 8)], dbEnv),
      baton(['tasks', 'cancel', '--prefix', 'TwinTask'], dbEnv),
      baton(['tasks', 'list', '--after', 'Nowhere1'], dbEnv),
      baton(['tasks', 'list', '--status', 'running'], dbEnv),
      baton(['tasks', 'list', '--status', ''], dbEnv),
      baton(['tasks', 'cancel'], dbEnv),
      baton(['tasks', 'cancel', '--json', '--', task.id], dbEnv),
      baton(['tasks', 'show', '--limit', '3', '--', task.id], dbEnv),
      baton(['tasks', 'frobnicate'], dbEnv),
      baton(['tasks'], dbEnv),
      baton(['tasks', 'cancel', '--prefix', 'Twin'], dbEnv),
      baton(['tasks', 'list', '--after', 'abc'], dbEnv),
      baton(['sessions', 'list', '--json'], dbEnv),
    ]);
    const expected: [number, string][] = [
      [1, `not found: no task with id "x${task.id.slice(1, 8)}…"\n`],
      [1, 'not found: no task with id "no-such-…"'],
      [1, 'use --prefix'],
      [1, 'ambiguous: more than one task id starts with "TwinTask"'],
      [1, 'not found: no task id starts with "Nowhere1"'],
      [2, '--status: unknown status "running" (known: working, input_required, completed, failed, cancelled, open)'],
      [2, '--status: unknown status "" (known: working, input_required, completed, failed, cancelled, open)'],
      [2, '"tasks cancel" takes exactly one task id'],
      [2, 'option --json does not apply to "tasks cancel"'],
      [2, 'option --limit does not apply to "tasks show"'],
      [2, 'unknown subcommand "tasks frobnicate" (known: list, show, cancel)'],
      [2, '"tasks" needs a subcommand: list, show or cancel'],
      [2, 'a prefix needs at least 8 characters, got 4'],
      [2, '--after: a prefix needs at least 8 characters, got 3'],
      [2, 'option --json does not apply to "sessions list"'],
    ];
    results.forEach((result, i) => {
      const [code, message] = expected[i]!;
      expect(result.code, message).toBe(code);
      expect(result.stderr, message).toContain(message);
      expect(result.stdout, message).toBe('');
    });
    for (const id of [task.id, ...twins.map((t) => `TwinTask-${t.id.slice(9)}`)]) expect(await statusOf(id)).toBe('working');
  });

  it('explains that a task id starting with "-" goes after "--"', async () => {
    const task = await createTask();
    await admin.query(`update baton.tasks set id = '-' || substr(id, 2) where id = $1`, [task.id]);
    const id = `-${task.id.slice(1)}`;
    const refused = await baton(['tasks', 'cancel', id], dbEnv);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`goes after "--": baton tasks cancel -- ${id.slice(0, 8)}…`);
    expect(await statusOf(id)).toBe('working');
  });

  it('cancel reaches the handler where it runs: a task of a running server process stops there', async () => {
    const server = await startServer(dbEnv, { command: [process.execPath, '--import', 'tsx', 'test/fixtures/task-main.ts'] });
    try {
      const label = `cli-${Date.now()}`;
      const response = await fetch(
        modernRequest(server.url, 'tools/call', {
          name: 'wait_for_cancel',
          arguments: { label },
          _meta: { 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } },
        }),
      );
      const [created] = await readMessages(response);
      expect(created.result, JSON.stringify(created)).toMatchObject({ resultType: 'task', status: 'working' });
      const taskId: string = created.result.taskId;
      const stopped = () => server.logs.join('').includes(`"label":"${label}"`);
      expect(stopped()).toBe(false);

      const cancelled = await baton(['tasks', 'cancel', '--', taskId], dbEnv);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      // The server heard it (its channel, or at the latest its next lease renewal) and aborted the handler.
      await waitFor(stopped, { what: 'the handler to stop in the server process', detail: () => server.logs.join('') });
      const line = server.logs
        .join('')
        .split('\n')
        .find((l) => l.includes(`"label":"${label}"`))!;
      expect(JSON.parse(line)).toMatchObject({
        msg: 'handler stopped',
        reason: expect.stringMatching(/the task was cancelled|no longer held here/),
      });
      // Its client reads it cancelled; what the handler returned after the abort was not recorded.
      const got = await fetch(
        modernRequest(
          server.url,
          'tasks/get',
          { taskId, _meta: { 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } } },
          { 'mcp-name': taskId },
        ),
      );
      const [polled] = await readMessages(got);
      expect(polled.result).toMatchObject({ status: 'cancelled', statusMessage: 'cancelled by an operator' });
      expect(polled.result).not.toHaveProperty('result');
    } finally {
      await server.stop();
    }
  });
});

describe('cleanup', () => {
  it('removes expired and idle sessions once, with progress per batch on a long run, and keeps live ones', async () => {
    const live = await createSession();
    await admin.query(`
      insert into baton.sessions (id, expires_at, last_active_at, protocol_version, client_capabilities, client_info)
      select 'expired-' || g, now() - interval '1 second', now(), '2025-11-25', '{}'::jsonb, '{}'::jsonb from generate_series(1, 6000) g
      union all
      select 'idle-' || g, now() + interval '1 hour', now() - interval '2 hours', '2025-11-25', '{}'::jsonb, '{}'::jsonb from generate_series(1, 6000) g`);
    const result = await baton(['cleanup', '--batch-size', '5000'], dbEnv);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^removed 12000 expired or idle session\(s\) in 3 batch\(es\), \d+ ms\n$/);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^batch 1: removed 5000 in \d+ ms \(5000 so far\)$/),
      expect.stringMatching(/^batch 2: removed 5000 in \d+ ms \(10000 so far\)$/),
      expect.stringMatching(/^batch 3: removed 2000 in \d+ ms \(12000 so far\)$/),
    ]);
    expect(await exists(live)).toBe(true);

    const nothing = await baton(['cleanup'], dbEnv);
    expect(nothing.stdout).toMatch(/^removed 0 expired or idle session\(s\) in 1 batch\(es\)/);
    expect(nothing.stderr).toBe('');
  });
});

describe('the embedded database (PGlite), which one process uses at a time', () => {
  it('refuses to revoke while a server holds the folder, saying why; revokes once it is stopped; a killed server blocks nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-cli-pglite-'));
    const env = { SESSIONS_STORE: 'database', BATON_CONFIG_YAML: `database:\n  pglite_dir: ${join(dir, 'data')}\n` };
    const cli = (...args: string[]) => run(process.execPath, ['bin/baton.mjs', ...args], env);
    let server = await startServer({ ...env, BATON_TOOLSETS: 'conformance' });
    try {
      const session = new RawSession((r) => fetch(r), server.url);
      expect((await session.initialize()).status).toBe(200);

      const refused = await cli('sessions', 'revoke', '--', session.id);
      expect(refused.code).toBe(1);
      expect(refused.stdout).not.toContain('revoked');
      expect(refused.stderr).toContain(`error: the embedded database in ${join(dir, 'data')} is in use by process ${server.child.pid} on `);
      expect(refused.stderr).toContain('stop that process (a running server) first');
      // Nothing happened behind the refusal: the session goes on.
      expect((await session.callTool('test_simple_text')).status).toBe(200);

      expect(await server.stop('SIGTERM')).toBe(0);
      const revoked = await cli('sessions', 'revoke', '--', session.id);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`revoked session ${session.id.slice(0, 8)}…`);

      server = await startServer({ ...env, BATON_TOOLSETS: 'conformance' }, { port: server.port });
      expect((await session.request('tools/list')).status).toBe(404);

      // A server that is killed leaves its lock behind; its pid is gone, so the lock does not count.
      server.child.kill('SIGKILL');
      await server.stop();
      const listed = await cli('sessions', 'list');
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain('no live sessions');
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the folder lock', () => {
  it('is refused to a second holder, even in the same process, and to a lock of another host; a reused pid does not hold it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-lock-'));
    try {
      const lock = lockFolder(dir);
      expect(() => lockFolder(dir)).toThrow(/is in use by this process/);
      lock.release();
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

      // This process's pid, but written by a process that started in 1970: the pid was reused.
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, started: 0, host: hostname() }));
      lockFolder(dir).release();

      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, started: 0, host: 'elsewhere.example' }));
      expect(() => lockFolder(dir)).toThrow(/in use by process 1 on elsewhere\.example .*If no such process is running, delete /);
      writeFileSync(join(dir, LOCK_FILE), 'garbage');
      expect(() => lockFolder(dir)).toThrow(/unreadable lock file/);
      expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('entry points', () => {
  it('runs through bin/baton.mjs, `npx baton` and `npm run baton --`', async () => {
    const [bin, viaNpx, viaNpm] = await Promise.all([
      run(process.execPath, ['bin/baton.mjs', 'sessions', 'list', '--limit', '1'], dbEnv),
      run('npx', ['baton', 'frobnicate'], dbEnv),
      run('npm', ['run', '--silent', 'baton', '--', 'help']),
    ]);
    expect(bin.code).toBe(0);
    expect(bin.stdout).toMatch(/live session\(s\)/);
    expect(viaNpx.code).toBe(2);
    expect(viaNpx.stderr).toContain('unknown command "frobnicate"');
    expect(viaNpm.code).toBe(0);
    expect(viaNpm.stdout).toContain('Usage: baton <command>');
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}
