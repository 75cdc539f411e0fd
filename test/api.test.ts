// The public API's own promises, in process: which toolsets are served, where settings come from,
// bad options, and the life of a served Baton (signals handled while it runs, given back after).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, defineTool, defineToolset, text } from '../src/api/index.js';
import { createAdmin, createBaton, serve } from '../src/api/node.js';
import { createVercel } from '../src/api/vercel.js';
import type { Baton } from '../src/api/baton.js';
import { createLogger } from '../src/log.js';
import { modernRequest } from './helpers/modern.js';
import { ROOT } from './helpers/server.js';

const memory = { sessions: { store: 'memory' as const } };
const hello = defineToolset({
  name: 'hello',
  description: 'one tool',
  tools: [defineTool({ name: 'hello', description: 'says hello', input: {}, handler: () => text('hello') })],
});

/** The names tools/list gives a 2026-07-28 request (no session needed). */
async function toolNames(fetch: (request: Request) => Promise<Response>): Promise<string[]> {
  const response = await fetch(modernRequest('http://localhost/mcp', 'tools/list'));
  const body = (await response.json()) as { result?: { tools: { name: string }[] }; error?: unknown };
  if (!body.result) throw new Error(`tools/list failed: ${JSON.stringify(body)}`);
  return body.result.tools.map((tool) => tool.name).sort();
}

const open: Baton[] = [];
const made = async (baton: Promise<Baton>) => {
  open.push(await baton);
  return open.at(-1)!;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((baton) => baton.close()));
  delete process.env.SESSIONS_TTL;
});

describe('which toolsets are served', () => {
  it('yours only, when you give some; none of the built-in ones for an empty list', async () => {
    expect(await toolNames((await made(createBaton({ config: memory, logger: 'error', toolsets: [hello] }))).fetch)).toEqual(['hello']);
    expect(await toolNames((await made(createBaton({ config: memory, logger: 'error', toolsets: [] }))).fetch)).toEqual([]);
  });

  it('the default set when the option is left out, and built-in ones beside yours when the settings name them', async () => {
    expect(await toolNames((await made(createBaton({ config: memory, logger: 'error' }))).fetch)).toEqual([
      'describe_table',
      'list_tables',
      'query',
    ]);
    const both = await made(createBaton({ config: { ...memory, toolsets: ['diagnostics'] }, logger: 'error', toolsets: [hello] }));
    expect(await toolNames(both.fetch)).toEqual(['hello', 'sleep', 'sleep_once']);
  });
});

describe('where settings come from', () => {
  it('env adds to process.env, and wins where both name a variable', async () => {
    process.env.SESSIONS_TTL = 'soon';
    // process.env is read though env is given: its bad value is reported, by name.
    await expect(
      createBaton({ config: memory, logger: 'error', toolsets: [hello], env: { BATON_TOOLSETS: 'diagnostics' } }),
    ).rejects.toThrow(/SESSIONS_TTL \(environment\): invalid duration "soon"/);
    const fixed = await made(
      createBaton({ config: memory, logger: 'error', toolsets: [hello], env: { SESSIONS_TTL: '1h', BATON_TOOLSETS: 'diagnostics' } }),
    );
    expect(await toolNames(fixed.fetch)).toEqual(['hello', 'sleep', 'sleep_once']);
  });

  it('refuses a logger level that is none, naming the option', async () => {
    const refused = createBaton({ config: memory, logger: 'verbose' as 'info', toolsets: [hello] });
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow('logger: expected one of "debug", "info", "warn", "error" or a logger object, got "verbose"');
  });

  it('Vercel: options may be a function of the environment, read at the first request', async () => {
    let seen: string | undefined;
    const vercel = createVercel((env) => {
      seen = String(env.BATON_EXAMPLE_NAME);
      return { name: seen, version: '1', config: memory, logger: 'error', toolsets: [hello] };
    });
    process.env.BATON_EXAMPLE_NAME = 'from-env';
    try {
      expect(await toolNames(vercel.fetch)).toEqual(['hello']);
      expect(seen).toBe('from-env');
    } finally {
      delete process.env.BATON_EXAMPLE_NAME;
    }
  });
});

describe('cleanup()', () => {
  it('resolves to the report docs/api.md describes, member for member', async () => {
    const baton = await made(createBaton({ config: memory, logger: 'error', toolsets: [hello] }));
    const row = readFileSync(join(ROOT, 'docs/api.md'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith('| `cleanup()` |'));
    const documented = /`\{ ([^}]*) \}`/.exec(row ?? '')?.[1]?.split(', ');
    expect(documented?.sort()).toEqual(Object.keys(await baton.cleanup()).sort());
  });
});

describe('a served Baton', () => {
  it('handles SIGTERM/SIGINT while it runs and gives them back after shutdown(); closed, it answers 503', async () => {
    const before = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
    const baton = await made(
      createBaton({
        config: { ...memory, server: { shutdown: { pre_shutdown_delay: 0, grace_period: '1s' } } },
        logger: 'error',
        toolsets: [hello],
      }),
    );
    const server = await serve(baton, { port: 0, host: '127.0.0.1' });
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual([before[0]! + 1, before[1]! + 1]);
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });

    const report = await server.shutdown();
    expect(report.drained).toBe(true);
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual(before);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    expect((await baton.fetch(new Request('http://localhost/healthz'))).status).toBe(503);
  });

  it('closed without shutdown(), stops retrying a store that is not there', async () => {
    const lines: string[] = [];
    const waiting = new Map<string, () => void>();
    const logged = (text: string) =>
      new Promise<void>((found) => (lines.some((line) => line.includes(text)) ? found() : waiting.set(text, found)));
    const logger = createLogger('info', (line) => {
      lines.push(line);
      for (const [text, found] of waiting) if (line.includes(text)) found();
    });
    // Nothing listens on port 1: every attempt is refused at once.
    const baton = await createBaton({
      config: { sessions: { store: 'database' }, database: { dsn: 'postgres://postgres@127.0.0.1:1/none' } },
      logger,
      toolsets: [hello],
    });
    const server = await serve(baton, { port: 0, host: '127.0.0.1', handleSignals: false });
    try {
      await logged('session store not ready, retrying');
      await baton.close();
      await logged('stopped before the session store was ready');
    } finally {
      server.server.closeAllConnections();
      server.server.close();
    }
  });
});

describe('createAdmin', () => {
  it('is built on the store and the configuration alone: none of the platform, the eras or the core comes with it', async () => {
    // What `baton` and an operator's script load: the modules src/api/admin.ts reaches.
    const { metafile } = await build({
      entryPoints: [join(ROOT, 'src/api/admin.ts')],
      absWorkingDir: ROOT,
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      metafile: true,
      logLevel: 'silent',
    });
    expect(Object.keys(metafile.inputs).filter((file) => /^src\/(platform|era-20\d\d|core)\//.test(file))).toEqual([]);
  });

  it('refuses a configuration whose sessions live in each server (the memory store), as the command line does, and opens nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-admin-'));
    try {
      const blank = { BATON_CONFIG: '', BATON_CONFIG_YAML: '', SESSIONS_STORE: '', DATABASE_URL: '' };
      let admin: ReturnType<typeof createAdmin> | undefined;
      let refused: unknown;
      try {
        admin = createAdmin({ env: blank, cwd: dir, logger: 'error' });
        await admin.listSessions();
      } catch (error) {
        refused = error;
      } finally {
        await admin?.close();
      }
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).issues).toEqual([
        { path: 'sessions.store', message: expect.stringContaining('set sessions.store: database (or SESSIONS_STORE=database)') },
      ]);
      // No embedded database was made in the working directory.
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
