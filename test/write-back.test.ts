// A session's changed state is stored before the answer that depends on it leaves. When that
// write fails because the database does not answer in time, the request was run but its result
// must not be seen: while nothing was sent yet the answer is a 503 with Retry-After, as for any
// other store failure; once the event stream's headers have gone out (the tool streamed something
// first), the only answer left is a JSON-RPC error on the stream. Both are logged as warnings,
// and the stored state stays what it was.
//
// The fault is real: a trigger makes Postgres sleep on every write of the `state` column, and
// the store's statement timeout cancels the write (SQLSTATE 57014), as a database that hangs on
// writes would. Loading the session (which never writes `state`) is not affected.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { defineTool, text } from '../src/core/define.js';
import { TOOLSET_FACTORIES } from '../src/tools/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession, readMessages } from './helpers/mcp.js';

let db: TestDatabase;
let admin: pg.Client;
let platform: Platform;
const logs: { level: string; msg: string }[] = [];

beforeAll(async () => {
  TOOLSET_FACTORIES.write_back_probe = () => ({
    name: 'write_back_probe',
    description: 'test',
    tools: [
      defineTool({
        name: 'remember_streaming',
        description: 'Streams a log message, then changes session state and answers.',
        input: {},
        async handler(_args, ctx) {
          await ctx.log('info', 'working');
          ctx.session?.set('probe.remembered', true);
          return text('remembered');
        },
      }),
    ],
  });
  db = await createTestDatabase('baton_write_back');
  const config = parseConfig(
    {
      sessions: { store: 'database' },
      database: { driver: 'pg', dsn: db.url, statement_timeout: '1s' },
      toolsets: ['write_back_probe'],
    },
    {},
  );
  platform = await createPlatform(config, {
    logger: createLogger('debug', (line) => logs.push(JSON.parse(line))),
    openDatabase: openNodeDatabase,
    // Long enough that an answer ready at once is always sent whole, whatever the machine's load.
    answerHoldMs: 60_000,
  });
  await platform.store.ready?.();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});

afterAll(async () => {
  delete TOOLSET_FACTORIES.write_back_probe;
  await admin?.end();
  await platform?.close();
  await db?.drop();
});

beforeEach(() => {
  logs.length = 0;
});

async function hangStateWrites(): Promise<void> {
  await admin.query(`
    create or replace function baton_test_hang() returns trigger language plpgsql as $$
    begin perform pg_sleep(30); return new; end $$`);
  await admin.query(`create trigger hang_state before update of state on baton.sessions for each row execute function baton_test_hang()`);
}

async function healStateWrites(): Promise<void> {
  await admin.query('drop trigger if exists hang_state on baton.sessions');
}

async function storedState(id: string): Promise<Record<string, unknown>> {
  const { rows } = await admin.query('select state from baton.sessions where id = $1', [id]);
  return rows[0].state;
}

describe('a state write-back that fails', () => {
  it('answers 503 with Retry-After when nothing was sent yet, logs a warning, and changes nothing', async () => {
    const session = new RawSession((r) => platform.app.fetch(r));
    await session.initialize();
    await hangStateWrites();
    try {
      const response = await session.send('POST', { jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'error' } });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect((await response.json()).error.code).toBe(-32000);
      expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'session store unavailable' }));
    } finally {
      await healStateWrites();
    }
    expect(await storedState(session.id)).toEqual({});
    // The session goes on: the same request now succeeds and is stored.
    const retried = await session.request('logging/setLevel', { level: 'error' });
    expect(retried.messages).toEqual([expect.objectContaining({ id: expect.anything(), result: {} })]);
    expect(await storedState(session.id)).toEqual({ 'mcp.logging_level': 'error' });
  });

  it('ends a stream that already went out with a JSON-RPC error instead of the result, and logs a warning', async () => {
    const session = new RawSession((r) => platform.app.fetch(r));
    await session.initialize();
    await hangStateWrites();
    let messages: any[];
    let status: number;
    try {
      const response = await session.send('POST', {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'remember_streaming', arguments: {} },
      });
      status = response.status;
      messages = await readMessages(response);
    } finally {
      await healStateWrites();
    }
    expect(status).toBe(200);
    expect(messages.map((m) => m.method ?? 'answer')).toEqual(['notifications/message', 'answer']);
    expect(messages[1]).toMatchObject({ id: 3, error: { code: -32603, message: expect.stringMatching(/could not be saved/) } });
    expect(messages[1].result).toBeUndefined();
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/state could not be saved/) }));
    expect(await storedState(session.id)).toEqual({});
  });
});
