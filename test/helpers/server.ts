// Starts the real Node entry as a child process, so tests exercise the same wiring, signals and
// logs as production: from the sources through tsx (what `npm start` builds into dist/), or any
// other command line that starts it (the built dist/node.js, `npm start` itself).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunningServer {
  url: string;
  port: number;
  child: ChildProcess;
  logs: string[];
  /** Sends a signal (to its process group, if started in one) and waits for the process to exit; resolves to its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A port nothing listens on right now. Only for addresses that must refuse connections (a
 * database that is down): a server started on it could find it taken by then. Servers bind
 * port 0 instead and say which port they got.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The Node entry from the sources, as tests run it: one process, so that signals reach the server itself. */
const ENTRY = [process.execPath, '--import', 'tsx', 'src/runtime/node.ts'];

/**
 * Starts the server expecting it to stop by itself (a start-up error): resolves to its exit code
 * and everything it printed. A server still running after `timeoutMs` is killed and fails this.
 */
export async function serverExit(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(ENTRY[0]!, ENTRY.slice(1), {
    cwd: ROOT,
    env: { ...process.env, BATON_CONFIG: '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  if (child.signalCode === 'SIGKILL') throw new Error(`server still running after ${timeoutMs} ms:\n${stdout}${stderr}`);
  return { code, stdout, stderr };
}

/** Resolves once the server's /readyz answers 200 (its store reachable and migrated). */
export async function untilReady(server: RunningServer, timeoutMs = 60_000): Promise<void> {
  const readyz = `http://127.0.0.1:${server.port}/readyz`;
  const status = async () => {
    const response = await fetch(readyz).catch(() => undefined);
    await response?.text();
    return response?.status ?? 0;
  };
  await waitFor(async () => (await status()) === 200, { what: `${readyz} to answer 200`, timeoutMs, detail: () => server.logs.join('') });
}

/**
 * Starts the server on `options.port`, or by default on a port the system picks when the server
 * binds (PORT=0), read back from its "listening" log line: a port found free beforehand could be
 * taken by another test before the server binds it. A restart on the same port passes the port
 * the first process got.
 */
export async function startServer(
  env: Record<string, string> = {},
  options: {
    port?: number;
    timeoutMs?: number;
    command?: string[];
    cwd?: string;
    /** A process group of its own, and `stop` signals the whole group (systemd, `tini -g`, a terminal). */
    group?: boolean;
  } = {},
): Promise<RunningServer> {
  const [program, ...args] = options.command ?? ENTRY;
  const child = spawn(program!, args, {
    cwd: options.cwd ?? ROOT,
    detached: options.group ?? false,
    env: { ...process.env, BATON_CONFIG: '', PORT: String(options.port ?? 0), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that never said it listens must not outlive the test that gave up on it.
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time:\n${logs.join('')}`));
    }, options.timeoutMs ?? 60_000);
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      logs.push(chunk.toString());
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      const listening = lines.find((line) => line.includes('"msg":"listening"'));
      if (listening) {
        clearTimeout(timer);
        resolve((JSON.parse(listening) as { port: number }).port);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${logs.join('')}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    child,
    logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      if (options.group) process.kill(-child.pid!, signal);
      else child.kill(signal);
      return exited;
    },
  };
}
