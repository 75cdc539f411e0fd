// The package as users get it: `npm pack` (which builds dist/lib), and each example installed the
// way its README says before the package is on the registry (`npm install ../../<tarball>` in a
// copy laid out as in the repository) and run the way its README says. Also: the published
// manifest (license, the database drivers as optional peer dependencies), a driver that is not
// installed failing only when used and naming the package, the Worker bundling for deployment,
// the types a user's project compiles against (test/fixtures/api-types.ts, with tsc), the names
// each entry exports, that nothing else under the package is importable, and `npm publish --dry-run`.
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT, type RunningServer, startServer } from './helpers/server.js';
import { startWrangler } from './helpers/wrangler.js';

const run = promisify(execFile);
/** The Node running the tests (24) first on PATH, for npm and the scripts it starts. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
const NPM = { env: { ...process.env, PATH, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 };
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const TSX = join(ROOT, 'node_modules/tsx/dist/loader.mjs');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The server `npm start` runs: the last of the processes npm started (one each). */
async function serverUnderNpm(npm: RunningServer): Promise<number> {
  let pid = npm.child.pid!;
  for (;;) {
    const children = await run('pgrep', ['-P', String(pid)]).then(
      ({ stdout }) => stdout.split('\n').filter(Boolean).map(Number),
      () => [],
    );
    if (children.length === 0) break;
    expect(children).toHaveLength(1);
    pid = children[0]!;
  }
  expect(pid).not.toBe(npm.child.pid);
  return pid;
}

/** SIGTERM to the server itself, as a container runtime sends it: it drains and exits 0, and npm with it. */
async function stopUnderNpm(npm: RunningServer): Promise<void> {
  const pid = await serverUnderNpm(npm);
  const exited = new Promise<number | null>((resolve) => npm.child.once('exit', resolve));
  process.kill(pid, 'SIGTERM');
  expect(await exited).toBe(0);
}

/**
 * SIGTERM to npm's own pid, as a terminal or a process manager sends it: npm passes it to the
 * script's process, which must be the server itself (`exec`), not a shell that would die of it
 * and leave the server running. npm exits 0 once the server has drained, and nothing is left.
 */
async function stopNpm(npm: RunningServer): Promise<void> {
  const pid = await serverUnderNpm(npm);
  const code = await npm.stop('SIGTERM');
  let left = true;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    left = false;
  }
  expect({ code, left }).toEqual({ code: 0, left: false });
}

let work: string;
let tarball: string;
let db: TestDatabase;

/** Where the copy of examples/<name> is. */
const example = (name: string) => join(work, 'examples', name);

/**
 * A copy of examples/<name> where it sits in the repository, next to the tarball as `npm pack`
 * leaves it at the root (work/examples/<name>, work/mcp-baton-<version>.tgz), installed with the
 * command its README gives for a clone.
 */
async function installExample(name: string, omitDev: boolean): Promise<string> {
  const dir = example(name);
  cpSync(join(ROOT, 'examples', name), dir, { recursive: true });
  // Once published, a plain `npm install` gets the same version.
  expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).dependencies['mcp-baton']).toBe(`^${VERSION}`);
  const command = `npm install ../../mcp-baton-${VERSION}.tgz`;
  expect(readFileSync(join(dir, 'README.md'), 'utf8'), `examples/${name}/README.md`).toContain(`\n${command}`);
  // The README's command as written; the options only keep npm quiet and on its cache (and the
  // Worker's wrangler is this repository's).
  const args = [...command.split(' ').slice(1), '--no-audit', '--no-fund', '--prefer-offline', ...(omitDev ? ['--omit=dev'] : [])];
  await run('npm', args, { ...NPM, cwd: dir });
  return dir;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'baton-package-'));
  db = await createTestDatabase('baton_package');
  const { stdout } = await run('npm', ['pack', '--pack-destination', work, '--json'], { ...NPM, cwd: ROOT });
  const [packed] = JSON.parse(stdout) as { filename: string; size: number; unpackedSize: number; entryCount: number }[];
  tarball = join(work, packed!.filename);
  expect(packed!.filename).toBe(`mcp-baton-${VERSION}.tgz`);
  console.log(
    `packed ${packed!.filename}: ${(packed!.size / 1024).toFixed(1)} KiB (${(packed!.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${packed!.entryCount} files)`,
  );
  // Each example installs on its own, as a user would; the Worker's wrangler is this repository's.
  await Promise.all([installExample('node', false), installExample('worker', true), installExample('vercel', false)]);
}, 300_000);

afterAll(async () => {
  await db?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the package', () => {
  it('holds the built code, its declarations and the docs, and no sources or development tools', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.split('\n').filter(Boolean);
    for (const entry of ['index', 'node', 'worker', 'vercel']) {
      expect(files).toContain(`package/dist/lib/api/${entry}.js`);
      expect(files).toContain(`package/dist/lib/api/${entry}.d.ts`);
    }
    // Paths in the tarball start with package/.
    // The docs docs/api.md links to travel with it.
    const shipped = ['docs/api.md', 'docs/toolsets.md', 'docs/security.md', 'docs/operations.md', 'README.md', 'LICENSE', 'bin/baton.mjs'];
    expect(files).toEqual(expect.arrayContaining(shipped.map((file) => `package/${file}`)));
    // What the demo dataset reads beside its code, and the data toolset's worker thread.
    expect(files).toEqual(
      expect.arrayContaining(['package/dist/lib/tools/data/demo/shop.sql', 'package/dist/lib/tools/data/drivers/pglite-thread.js']),
    );
    expect(
      files.filter((file) => /^package\/(src|test|examples|scripts)\/|^package\/dist\/lib\/(dev|runtime)\/|\.ts$(?<!\.d\.ts)/.test(file)),
    ).toEqual([]);
  });

  it('says its license, and leaves the database drivers to the projects that use one (optional peer dependencies)', async () => {
    const { stdout } = await run('tar', ['-xzOf', tarball, 'package/package.json']);
    const manifest = JSON.parse(stdout) as Record<string, Record<string, unknown> | string>;
    expect(manifest.license).toBe('MIT');
    const drivers = ['pg', '@electric-sql/pglite'];
    expect(Object.keys(manifest.dependencies!).filter((name) => drivers.includes(name))).toEqual([]);
    expect(Object.keys(manifest.peerDependencies!)).toEqual(expect.arrayContaining(drivers));
    for (const driver of drivers) expect(manifest.peerDependenciesMeta).toHaveProperty([driver], { optional: true });
    // The Worker example installs neither.
    expect(drivers.filter((driver) => existsSync(join(example('worker'), 'node_modules', driver)))).toEqual([]);
  });

  it('loads a database driver only when the configuration uses it, and names the package when it is missing', async () => {
    // The operators' command line in the Worker example, where neither pg nor PGlite is installed
    // (say, to migrate the Worker's database from a laptop).
    const migrate = (env: Record<string, string>) =>
      run('npx', ['baton', 'migrate'], {
        ...NPM,
        env: { ...NPM.env, BATON_CONFIG: '', SESSIONS_STORE: 'database', ...env },
        cwd: example('worker'),
      }).then(
        ({ stdout, stderr }) => `exit 0: ${stdout}${stderr}`,
        (error: { stderr?: string }) => error.stderr ?? String(error),
      );
    expect(await migrate({ DATABASE_URL: db.url })).toContain('install pg to use the pg driver (npm install pg)');
    expect(await migrate({ DATABASE_URL: '' })).toContain(
      'install @electric-sql/pglite to use the pglite driver (npm install @electric-sql/pglite)',
    );
  }, 60_000);

  it('exports exactly its four entries: each has the names docs/api.md lists, and nothing else is importable', async () => {
    const script = `
      const names = {};
      for (const entry of ['mcp-baton', 'mcp-baton/node', 'mcp-baton/worker', 'mcp-baton/vercel']) names[entry] = Object.keys(await import(entry)).sort();
      const refused = [];
      for (const deep of ['mcp-baton/dist/lib/platform.js', 'mcp-baton/dist/lib/api/baton.js', 'mcp-baton/src/platform/platform.ts', 'mcp-baton/lib/platform']) {
        try { await import(deep); refused.push(deep + ': imported'); } catch (error) { refused.push(deep + ': ' + error.code); }
      }
      console.log(JSON.stringify({ names, refused }));`;
    // Where no driver is installed: importing needs none.
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: example('worker') });
    const { names, refused } = JSON.parse(stdout);
    expect(names).toEqual({
      'mcp-baton': [
        'ConfigError',
        'FaultCode',
        'ProtocolFault',
        'acceptedContent',
        'defineTool',
        'defineToolset',
        'fromSdkServer',
        'inputRequired',
        'inputResponse',
        'isInputRequired',
        'text',
      ],
      'mcp-baton/node': ['createAdmin', 'createBaton', 'serve'],
      'mcp-baton/vercel': ['createVercel'],
      'mcp-baton/worker': ['createWorker'],
    });
    expect(refused).toEqual([
      'mcp-baton/dist/lib/platform.js: ERR_PACKAGE_PATH_NOT_EXPORTED',
      'mcp-baton/dist/lib/api/baton.js: ERR_PACKAGE_PATH_NOT_EXPORTED',
      'mcp-baton/src/platform/platform.ts: ERR_PACKAGE_PATH_NOT_EXPORTED',
      'mcp-baton/lib/platform: ERR_PACKAGE_PATH_NOT_EXPORTED',
    ]);
  });

  it('gives a user project the types test/fixtures/api-types.ts pins, and the TypeScript examples compile', async () => {
    const project = example('vercel');
    cpSync(join(ROOT, 'test/fixtures/api-types.ts'), join(project, 'api-types.ts'));
    // A strict user project: the package's declarations are checked too (skipLibCheck off), with
    // Node's types (this repository's copy) as a Node project has them.
    writeFileSync(
      join(project, 'tsconfig.api.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023', 'DOM'],
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['api-types.ts'],
      }),
    );
    // tsc prints its errors on stdout and exits 2: the message then shows them.
    const check = (config: string) =>
      run(process.execPath, [TSC, '-p', config], { cwd: dirname(config) }).then(
        () => '',
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
    expect(await check(join(project, 'tsconfig.api.json'))).toBe('');
    expect(await check(join(project, 'tsconfig.json'))).toBe('');
    expect(await check(join(example('worker'), 'tsconfig.json'))).toBe('');
  }, 120_000);

  it("installs the operators' command line: npx baton help", async () => {
    const { stdout } = await run('npx', ['baton', 'help'], { ...NPM, cwd: example('node') });
    expect(stdout).toContain('Usage: baton <command> [options]');
  });

  it('passes npm publish --dry-run', async () => {
    const { stdout } = await run('npm', ['publish', tarball, '--dry-run'], { ...NPM, cwd: work });
    expect(stdout).toContain('+ mcp-baton@0.1.0');
  }, 120_000);
});

describe('examples/node: npm start honours PORT and serves /healthz and /mcp', () => {
  it('keeps an SDK client session across a restart on the database store', async () => {
    const cwd = example('node');
    const env = { PATH, DATABASE_URL: db.url, BATON_CONFIG: '' };
    const first = await startServer(env, { command: ['npm', 'start'], cwd });
    const health = await fetch(`http://127.0.0.1:${first.port}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });

    const client = new Client({ name: 'package-test', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(first.url));
    await client.connect(transport);
    expect(client.getServerVersion()).toEqual({ name: 'notes', version: '1.0.0' });
    const noted = await client.callTool({ name: 'remember', arguments: { note: 'buy milk' } });
    expect(noted.content).toEqual([{ type: 'text', text: 'Noted (1 so far).' }]);
    const sessionId = transport.sessionId!;
    await stopNpm(first);
    expect(first.logs.join('')).toMatch(/"msg":"shutdown complete".*"drained":true/);

    // The same port, a new process: PORT is honoured, and the session is still there.
    const second = await startServer(env, { command: ['npm', 'start'], cwd, port: first.port });
    try {
      expect(second.port).toBe(first.port);
      const resumed = new Client({ name: 'package-test', version: '1' });
      await resumed.connect(new StreamableHTTPClientTransport(new URL(second.url), { sessionId }));
      const recalled = await resumed.callTool({ name: 'recall', arguments: {} });
      expect(recalled.content).toEqual([{ type: 'text', text: '1. buy milk' }]);
      await resumed.close();
    } finally {
      // The other way a server under npm is stopped.
      await stopUnderNpm(second);
    }
  }, 120_000);
});

describe('examples/worker in workerd (wrangler dev)', () => {
  it('answers initialize and tools/call', async () => {
    const worker = await startWrangler({ cwd: example('worker'), timeoutMs: 60_000 });
    try {
      const client = new Client({ name: 'package-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(worker.url)));
      expect(client.getServerVersion()).toEqual({ name: 'greeter', version: '1.0.0' });
      const greeted = await client.callTool({ name: 'greet', arguments: { name: 'Ada' } });
      expect(greeted.content).toEqual([{ type: 'text', text: 'Hello, Ada! (greeting 1 in this session)' }]);
      await client.close();
    } finally {
      await worker.stop();
    }
  }, 120_000);
});

describe('examples/worker: wrangler deploy --dry-run', () => {
  it('bundles the Worker with neither pg nor PGlite installed', async () => {
    const outdir = join(work, 'worker-bundle');
    await run(WRANGLER, ['deploy', '--dry-run', '--outdir', outdir], {
      ...NPM,
      env: { ...NPM.env, WRANGLER_SEND_METRICS: 'false' },
      cwd: example('worker'),
    });
    expect(readFileSync(join(outdir, 'index.js'), 'utf8')).toContain('Greets someone');
  }, 120_000);
});

describe('examples/vercel with web Requests', () => {
  it('answers initialize and tools/call through api/mcp.ts, and guards the cron route', async () => {
    const script = `
      const { default: mcp } = await import('./api/mcp.ts');
      const { GET: cron } = await import('./api/cron/cleanup.ts');
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      // An answer is JSON, or an event stream whose last event carries it.
      const answer = async (response) => {
        const text = await response.text();
        return JSON.parse(text.startsWith('{') ? text : text.split('\\n').filter((line) => line.startsWith('data: ')).pop().slice(6));
      };
      const post = (body, extra = {}) => mcp.fetch(new Request('https://example.vercel.app/mcp', { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) }));
      const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      const session = init.headers.get('mcp-session-id');
      const initialized = await answer(init);
      await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': session });
      const call = await answer(await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'shout', arguments: { text: 'hi' } } }, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' }));
      const unauthorized = (await cron(new Request('https://example.vercel.app/api/cron/cleanup'))).status;
      console.log(JSON.stringify({ serverInfo: initialized.result.serverInfo, call: call.result, unauthorized }));`;
    const child = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], {
      cwd: example('vercel'),
      env: { ...process.env, PATH, CRON_SECRET: 'cron-secret', LOG_LEVEL: 'error', BATON_ALLOWED_HOSTS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.once('close', resolve));
    // Whatever the runtime warns about on stderr may vary; an error fails the script (exit code).
    expect({ code, stderr: stderr.includes('Error') ? stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual({
      serverInfo: { name: 'shouter', version: '1.0.0' },
      call: { content: [{ type: 'text', text: 'HI' }] },
      unauthorized: 401,
    });
  }, 60_000);
});
