// The production path. `npm run build` (scripts/build.mjs) makes dist/, which runs here beside a
// node_modules holding the production dependencies only, as in the container image's final stage
// (`npm ci --omit=dev`): nothing is installed, the packages already installed are linked, and
// every module the server loads is recorded, across the configurations that load code lazily
// (PGlite, pg, neon-http, the conformance toolset, the data toolset and its demo thread). And
// `npm start` as a process manager runs it: SIGTERM to npm's own pid reaches the server, frees
// the port, ends the tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, KEPT_BUILDS, type BuildResult } from '../scripts/build.mjs';
import { startNeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/db.js';
import { ROOT, startServer, type RunningServer } from './helpers/server.js';
import { RawSession } from './helpers/mcp.js';
import { sleep, waitFor } from './helpers/wait.js';

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Installed packages `npm ci --omit=dev` would install, as paths under node_modules (nested ones included). */
function productionPackages(): string[] {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.startsWith(join(ROOT, 'node_modules') + sep))
    .map((line) => relative(join(ROOT, 'node_modules'), line));
}

/** The package a file under node_modules belongs to (`@scope/name` or `name`), innermost. */
function packageOf(path: string): string | undefined {
  const parts = path.split('/node_modules/').pop()!.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

let dir: string;
let app: string;
let loadLog: string;
let built: BuildResult;
let db: TestDatabase;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-production-'));
  app = join(dir, 'app');
  built = await build({ outdir: join(app, 'dist') });
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  // The production packages, linked from the installed tree (top-level ones carry their nested
  // node_modules with them). Run with --preserve-symlinks, a module resolves from the link's path:
  // a development package is simply not there.
  for (const pkg of productionPackages().filter((p) => !p.includes(`${sep}node_modules${sep}`))) {
    mkdirSync(dirname(join(app, 'node_modules', pkg)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', pkg), join(app, 'node_modules', pkg), 'dir');
  }
  // Records every module resolved, in the main thread and in worker threads (which inherit the
  // command line's --import).
  loadLog = join(dir, 'loaded.txt');
  writeFileSync(
    join(dir, 'record-loads.mjs'),
    `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    appendFileSync(${JSON.stringify(loadLog)}, resolved.url + '\\n');
    return resolved;
  },
});
`,
  );
  db = await createTestDatabase('baton_production');
});

afterAll(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('bundles the server, the command line and the demo thread, with nothing from src/dev/', () => {
    expect(built.built).toBe(true);
    const folder = `builds/${built.build}`;
    expect(built.outputs).toEqual(
      expect.arrayContaining(['node.js', 'baton.js', `${folder}/node.js`, `${folder}/baton.js`, `${folder}/pglite-thread.js`]),
    );
    expect(built.inputs!.filter((input) => input.startsWith('src/'))).toContain('src/runtime/node.ts');
    expect(built.inputs!.filter((input) => input.startsWith('src/dev/'))).toEqual([]);
  });

  it('--if-stale builds only when the sources changed since the last build', async () => {
    const outdir = join(dir, 'stale-check');
    expect((await build({ outdir, ifStale: true })).built).toBe(true);
    expect((await build({ outdir, ifStale: true })).built).toBe(false);
    // What a changed source looks like to it: a record of other inputs.
    writeFileSync(join(outdir, 'build.json'), JSON.stringify({ inputs: 'other sources' }));
    expect((await build({ outdir, ifStale: true })).built).toBe(true);
  });
});

describe('a rebuild under a running server', () => {
  // A copy of what the build reads, so that a source can change without touching the repository:
  // the build script runs from it as `npm start` runs it (its root is the folder it sits in).
  let root: string;
  let server: RunningServer | undefined;
  const MARK = 'the demo dataset could not be built';
  const rebuild = (mark: string) => {
    const file = join(root, 'src/tools/data/drivers/pglite.ts');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/the demo dataset could not be built[^:`]*/, mark));
    return execFileSync(process.execPath, [join(root, 'scripts/build.mjs'), '--if-stale'], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  };

  beforeAll(() => {
    root = join(dir, 'rebuilt');
    for (const path of ['src', 'scripts/build.mjs', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      cpSync(join(ROOT, path), join(root, path), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('leaves the running build whole: its first lazy import after the rebuild works; old builds are removed beyond a few', async () => {
    rebuild(MARK);
    server = await startServer({ BATON_TOOLSETS: 'data' }, { cwd: root, command: [process.execPath, 'dist/node.js'] });
    // Sources change and the build runs again while the server runs; nothing of the data
    // toolset's datasource (its driver's chunk, the demo's thread and files) was loaded yet.
    rebuild(`${MARK} (second build)`);
    const session = new RawSession((r) => fetch(r), server.url);
    expect((await session.initialize()).status).toBe(200);
    const { status, result } = await session.callTool('query', { sql: 'select count(*) as n from orders' });
    expect(status).toBe(200);
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    expect(await server.stop()).toBe(0);

    // A new server runs the new build.
    server = await startServer({ BATON_TOOLSETS: 'data' }, { cwd: root, command: [process.execPath, 'dist/node.js'] });
    const fresh = new RawSession((r) => fetch(r), server.url);
    expect((await fresh.initialize()).status).toBe(200);
    expect((await fresh.callTool('query', { sql: 'select 1 as one' })).result.isError).toBeFalsy();
    expect(await server.stop()).toBe(0);

    // dist/ does not grow without bound: the current build and the few before it are kept.
    for (let i = 3; i <= 5; i++) rebuild(`${MARK} (build ${i})`);
    const builds = readdirSync(join(root, 'dist/builds'));
    expect(builds).toHaveLength(1 + KEPT_BUILDS);
    expect(builds).toContain(JSON.parse(readFileSync(join(root, 'dist/build.json'), 'utf8')).build);
  });
});

describe('dist/ with production dependencies only', () => {
  const servers: RunningServer[] = [];
  const start = async (env: Record<string, string>) => {
    const server = await startServer(
      { BATON_CONFIG_YAML: 'server:\n  shutdown:\n    pre_shutdown_delay: 0s\n', ...env },
      {
        cwd: app,
        command: [
          process.execPath,
          '--preserve-symlinks',
          '--preserve-symlinks-main',
          '--import',
          pathToFileURL(join(dir, 'record-loads.mjs')).href,
          'dist/node.js',
        ],
      },
    );
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop('SIGKILL')));
  });

  const call = async (session: RawSession, name: string, args: Record<string, unknown> = {}) => {
    const { status, result } = await session.callTool(name, args);
    expect(status).toBe(200);
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    return (result.content as { text: string }[]).map((c) => c.text).join('\n');
  };

  it('serves every configuration whose code is loaded lazily, loading nothing but dist/ and production packages', async () => {
    // PGlite as the session database, the data toolset on the demo dataset (its worker thread).
    const embedded = await start({
      SESSIONS_STORE: 'database',
      BATON_TOOLSETS: 'data,conformance',
      BATON_CONFIG_YAML: `database:\n  pglite_dir: ${join(dir, 'pglite')}\nserver:\n  shutdown:\n    pre_shutdown_delay: 0s\n`,
    });
    const first = new RawSession((r) => fetch(r), embedded.url);
    expect((await first.initialize()).status).toBe(200);
    expect(await call(first, 'test_simple_text')).toContain('simple text');
    expect(await call(first, 'query', { sql: 'select count(*) as n from orders' })).toMatch(/\| n \|/);
    expect(await embedded.stop()).toBe(0);

    // pg for both the session database and the datasource.
    const pg = await start({ SESSIONS_STORE: 'database', DATABASE_URL: db.url, DATASOURCE_URL: db.url });
    const second = new RawSession((r) => fetch(r), pg.url);
    expect((await second.initialize()).status).toBe(200);
    expect(await call(second, 'list_tables')).toBeTruthy();
    expect(await pg.stop()).toBe(0);

    // neon-http, through the local endpoint (development code, but in this test process only).
    const endpoint = await startNeonEndpoint({ postgresUrl: ADMIN_URL });
    try {
      const neon = await start({
        SESSIONS_STORE: 'database',
        DATABASE_DRIVER: 'neon-http',
        DATABASE_URL: endpoint.connectionString(db.name),
        DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
        BATON_TOOLSETS: 'conformance',
      });
      const third = new RawSession((r) => fetch(r), neon.url);
      expect((await third.initialize()).status).toBe(200);
      expect(await call(third, 'test_simple_text')).toContain('simple text');
      expect(await neon.stop()).toBe(0);
    } finally {
      await endpoint.close();
    }

    const loaded = [
      ...new Set(
        readFileSync(loadLog, 'utf8')
          .split('\n')
          .filter((url) => url.startsWith('file:')),
      ),
    ];
    const files = loaded.map((url) => new URL(url).pathname);
    // Nothing from the repository itself: no sources, no tsx, no development package.
    expect(files.filter((file) => !file.startsWith(app + sep))).toEqual([]);
    const packages = new Set(files.filter((file) => file.includes('/node_modules/')).map(packageOf));
    // The database drivers are optional peer dependencies of the package and development ones here,
    // which `npm ci --omit=dev` installs all the same (npm marks them devOptional).
    const production = { ...packageJson.dependencies, ...packageJson.peerDependencies };
    const development = [...packages].filter((name) => name && name in packageJson.devDependencies && !(name in production));
    expect(development).toEqual([]);
    // The bundle holds its dependencies; only PGlite is read from node_modules.
    expect([...packages]).toEqual(['@electric-sql/pglite']);
    expect(files.some((file) => file.endsWith(`/dist/builds/${built.build}/pglite-thread.js`))).toBe(true);
  });
});

/** Pids of the process and all its descendants, now. */
function processTree(pid: number): number[] {
  let children = '';
  try {
    children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    // ps exits 1 when the process has no children.
  }
  return [
    pid,
    ...children
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter(Boolean)
      .flatMap(processTree),
  ];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** `npm start` in a process group of its own (as a terminal runs it), until it says it listens. */
async function npmStart(
  preShutdownDelay = '0s',
  env: Record<string, string> = {},
): Promise<{ npm: ChildProcess; port: number; output: () => string; exited: Promise<number | null> }> {
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      BATON_CONFIG: '',
      BATON_CONFIG_YAML: `server:\n  shutdown:\n    pre_shutdown_delay: ${preShutdownDelay}\n`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    npm.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    void exited.then((code) => reject(new Error(`npm start exited with ${code} before listening:\n${output}`)));
  });
  return { npm, port, output: () => output, exited };
}

describe('npm start', () => {
  it('SIGTERM to the pid of `npm start` reaches the server: it drains and exits, the port is freed, no process is left', async () => {
    const { npm, port, output, exited } = await npmStart();
    const session = new RawSession((r) => fetch(r), `http://127.0.0.1:${port}/mcp`);
    expect((await session.initialize()).status).toBe(200);
    const tree = processTree(npm.pid!);
    expect(tree.length).toBeGreaterThan(1);
    try {
      process.kill(npm.pid!, 'SIGTERM');
      expect(await exited).toBe(0);
      expect(output()).toContain('"msg":"shutdown complete"');
      expect(await refused(port)).toBe(true);
      expect(tree.filter(alive)).toEqual([]);
    } finally {
      // Whatever failed above, no process of this test outlives it.
      for (const pid of tree.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });

  it('Ctrl-C (SIGINT to the process group: the server gets it from the terminal and from npm) drains once and exits 0', async () => {
    // Still draining when npm's copy of the signal arrives.
    const { npm, port, output, exited } = await npmStart('500ms');
    const tree = processTree(npm.pid!);
    try {
      process.kill(-npm.pid!, 'SIGINT');
      expect(await exited).toBe(0);
      expect(output()).toContain('"msg":"shutdown complete"');
      expect(output()).not.toContain('second signal');
      expect(await refused(port)).toBe(true);
      expect(tree.filter(alive)).toEqual([]);
    } finally {
      for (const pid of tree.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });

  // systemd (KillMode=control-group), `tini -g` and supervisord's stopasgroup signal the whole
  // group: the server gets SIGTERM from the process manager and again from npm, milliseconds apart.
  it('SIGTERM to the process group drains once: a call in flight completes, exit 0', async () => {
    const { npm, port, output, exited } = await npmStart('300ms', { BATON_TOOLSETS: 'diagnostics' });
    const tree = processTree(npm.pid!);
    try {
      const session = new RawSession((r) => fetch(r), `http://127.0.0.1:${port}/mcp`);
      expect((await session.initialize()).status).toBe(200);
      // The response's head (the event stream) arrives once the call runs: it is in flight.
      const response = await session.send('POST', {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'sleep', arguments: { ms: 1_500 }, _meta: { progressToken: 1 } },
      });
      const body = response.text().catch((error: unknown) => `connection closed: ${String(error)}`);
      process.kill(-npm.pid!, 'SIGTERM');
      expect(await body).toContain('slept 1500 ms');
      expect(await exited).toBe(0);
      expect(output()).toContain('"msg":"shutdown complete"');
      expect(output()).not.toContain('second signal');
      expect(tree.filter(alive)).toEqual([]);
    } finally {
      for (const pid of tree.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });

  // A terminal that closes sends SIGHUP to its process group; npm dies of it, the server drains.
  it('SIGHUP to the process group drains and exits 0', async () => {
    const { npm, port, output } = await npmStart('300ms');
    const tree = processTree(npm.pid!);
    const server = tree.find((pid) => pid !== npm.pid && /dist\/node\.js/.test(commandOf(pid)));
    expect(server).toBeDefined();
    try {
      process.kill(-npm.pid!, 'SIGHUP');
      await waitFor(() => !alive(server!), { what: 'the server process to exit' });
      expect(output()).toContain('"msg":"shutdown complete"');
      expect(await refused(port)).toBe(true);
    } finally {
      for (const pid of tree.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });

  it('a different signal during the drain, or the same one a second later, exits at once', async () => {
    const { npm, output, exited } = await npmStart('30s');
    const tree = processTree(npm.pid!);
    try {
      process.kill(-npm.pid!, 'SIGTERM');
      await waitFor(() => output().includes('"msg":"shutting down"'), { what: 'the log line "shutting down"' });
      // The first SIGTERM arrived before the line above was written: a second from now is later
      // than the window in which a repeat counts as the same stop.
      await sleep(1_100);
      process.kill(-npm.pid!, 'SIGTERM');
      expect(await exited).toBe(143);
      expect(output()).toContain('"msg":"second signal, exiting now"');
    } finally {
      for (const pid of tree.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  });
});

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}
