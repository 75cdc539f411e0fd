// Announcing changes from anywhere (src/store/channel/changes.ts): from a tool (`ctx.changes`), from
// application code (`platform.changes`), and from the command line (`baton notify`), to the event
// streams of 2025 sessions on every instance.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { defineTool, text } from '../src/core/define.js';
import { TOOLSET_FACTORIES } from '../src/tools/index.js';
import { runCli } from '../src/cli/run.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { deferred } from './helpers/gate.js';
import { RawSession } from './helpers/mcp.js';
import { startRoundRobinProxy, type Proxy as RoundRobin } from './helpers/proxy.js';
import { ROOT, startServer, type RunningServer } from './helpers/server.js';
import { SseReader } from './helpers/sse.js';

const run = promisify(execFile);
const quiet = createLogger('error');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('baton_notify');
  TOOLSET_FACTORIES.announcer = () => ({
    name: 'announcer',
    description: 'test',
    tools: [
      defineTool({
        name: 'announce_update',
        description: 'Announces that a resource changed.',
        input: { uri: z.string() },
        async handler({ uri }, ctx) {
          await ctx.changes.resourceUpdated(uri);
          return text('announced');
        },
      }),
    ],
  });
});

afterAll(async () => {
  delete TOOLSET_FACTORIES.announcer;
  await db?.drop();
});

describe('ctx.changes and platform.changes, on two platforms in one process (pg)', () => {
  let a: Platform;
  let b: Platform;
  beforeAll(async () => {
    const config = parseConfig(
      { sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url }, toolsets: ['conformance', 'announcer'] },
      {},
    );
    a = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    b = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('announcements from a tool and from application code on platform b reach a stream held on platform a', async () => {
    const listener = new RawSession((r) => a.app.fetch(r));
    await listener.initialize();
    await listener.request('resources/subscribe', { uri: 'test://watched-resource' });
    const stream = new SseReader(await listener.send('GET', undefined));
    await stream.next(); // priming

    // Another session's tool, on platform b, announces an update.
    const caller = new RawSession((r) => b.app.fetch(r));
    await caller.initialize();
    expect((await caller.callTool('announce_update', { uri: 'test://watched-resource' })).result.content[0].text).toBe('announced');
    const fromTool = (await stream.until((e) => e.message !== undefined)).at(-1)!;
    expect(fromTool.message).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/resources/updated',
      params: { uri: 'test://watched-resource' },
    });

    await b.changes.promptsChanged();
    const fromCode = (await stream.until((e) => e.message !== undefined)).at(-1)!;
    expect(fromCode.message.method).toBe('notifications/prompts/list_changed');
    await stream.cancel();
  });

  it('refuses an empty resource URI', async () => {
    await expect(b.changes.resourceUpdated('')).rejects.toThrow(/non-empty/);
  });
});

describe('baton notify', () => {
  const cli = async (args: string[], env: Record<string, string>) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, { out: (l) => (stdout += `${l}\n`), err: (l) => (stderr += `${l}\n`) }, { env, cwd: ROOT });
    return { code, stdout, stderr };
  };

  it('says what is wrong with its arguments, and changes nothing', async () => {
    const env = { SESSIONS_STORE: 'database', DATABASE_URL: db.url };
    expect(await cli(['notify'], env)).toMatchObject({ code: 2, stderr: expect.stringContaining('"notify" needs what changed') });
    expect(await cli(['notify', 'everything'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown notification "notify everything"'),
    });
    expect(await cli(['notify', 'resource-updated'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('exactly one resource URI'),
    });
    expect(await cli(['notify', 'tools-changed', 'x'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('takes no arguments'),
    });
    expect(
      await cli(['notify', 'tools-changed'], { SESSIONS_STORE: 'database', BATON_CONFIG_YAML: 'database: { pglite_dir: /nonexistent }' }),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('serves one process'),
    });
  });

  describe('from another process, to an SDK client whose stream is held by one of two Node instances behind a proxy', () => {
    const servers: RunningServer[] = [];
    let proxy: RoundRobin;
    beforeAll(async () => {
      const env = { BATON_TOOLSETS: 'conformance', SESSIONS_STORE: 'database', DATABASE_URL: db.url, LOG_LEVEL: 'debug' };
      servers.push(await startServer(env), await startServer(env));
      proxy = await startRoundRobinProxy(servers.map((s) => `http://127.0.0.1:${s.port}`));
    }, 120_000);
    afterAll(async () => {
      await proxy?.close();
      await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    });

    it('reaches the client, and only for the resource it subscribed to', async () => {
      // The client's GET stream is open once an instance says so.
      const opened = deferred();
      for (const server of servers) {
        server.child.stdout!.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('"msg":"event stream opened"')) opened.resolve(undefined);
        });
      }
      const client = new Client({ name: 'listener', version: '1' }, { capabilities: {} });
      const updated: string[] = [];
      const gotUpdate = deferred();
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updated.push(n.params.uri);
        gotUpdate.resolve(undefined);
      });
      const gotListChange = deferred();
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => gotListChange.resolve(undefined));
      await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/mcp`)));
      try {
        await client.subscribeResource({ uri: 'test://watched-resource' });
        await opened.promise;
        const env = { ...process.env, BATON_CONFIG: '', SESSIONS_STORE: 'database', DATABASE_URL: db.url };
        const baton = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env });
        expect((await baton(['notify', 'resource-updated', 'test://not-subscribed'])).stdout).toContain(
          'announced notifications/resources/updated',
        );
        await baton(['notify', 'resource-updated', 'test://watched-resource']);
        await gotUpdate.promise;
        expect((await baton(['notify', 'tools-changed'])).stdout).toContain('every session stream');
        await gotListChange.promise;
        // In order on one stream: the update for the other resource was never sent.
        expect(updated).toEqual(['test://watched-resource']);
      } finally {
        await client.close();
      }
    }, 120_000);
  });
});
