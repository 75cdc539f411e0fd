// Starts the Worker entry in the real runtime (workerd) through `wrangler dev`, the way
// `npm run dev` does, with its state under the system temp folder instead of the repository.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './server.js';
import { sleep } from './wait.js';

const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');

export interface WranglerOptions {
  /** Worker variables, passed as `--var KEY:VALUE` (they win over wrangler.toml's [vars]). */
  vars?: Record<string, string>;
  /** Default 0: wrangler binds a port the system picks and says which ("Ready on ..."). */
  port?: number;
  timeoutMs?: number;
  /** The folder with the wrangler.toml to run; default this repository's Worker. */
  cwd?: string;
}

export interface RunningWorker {
  /** The MCP endpoint. */
  url: string;
  port: number;
  /** wrangler's pid, which is also the process group of everything it started. */
  pid: number;
  /** Everything wrangler and the Worker printed, as received. */
  logs: string[];
  /** Stops wrangler and the workerd it started, and removes the state folder. */
  stop(): Promise<void>;
}

/**
 * Processes of a group still running, one `pid command` a line; '' when none. Zombies (dead,
 * waiting for init to reap them) do not count.
 */
export function liveProcesses(pgid: number): string {
  try {
    return execFileSync('pgrep', ['-a', '-g', String(pgid), '-r', 'R,S,D,T,t,W,I'], { encoding: 'utf8' }).trim();
  } catch (error) {
    // pgrep exits 1 when nothing matches.
    if ((error as { status?: number }).status === 1) return '';
    throw error;
  }
}

export async function startWrangler(options: WranglerOptions = {}): Promise<RunningWorker> {
  const persistTo = await mkdtemp(join(tmpdir(), 'baton-wrangler-'));
  // Ports are bound by wrangler itself (0: any free one), never chosen here first: a port found
  // free could be taken by another test before wrangler binds it.
  const args = ['dev', '--port', String(options.port ?? 0), '--ip', '127.0.0.1', '--inspector-port', '0'];
  args.push('--test-scheduled', '--show-interactive-dev-session=false', '--persist-to', persistTo);
  for (const [key, value] of Object.entries(options.vars ?? {})) args.push('--var', `${key}:${value}`);

  const child = spawn(WRANGLER, args, {
    cwd: options.cwd ?? ROOT,
    // Its own process group, so that stop() reaches workerd too, not only wrangler.
    detached: true,
    env: {
      ...process.env,
      // The Node running the tests (24), not whatever `node` comes first on PATH.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      WRANGLER_SEND_METRICS: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch (error) {
      // ESRCH: the group is already gone.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const stop = async () => {
    if (running()) {
      // wrangler passes the signal on to its runtime; the group kill below is the fallback.
      child.kill('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    // wrangler may exit before its workerd does; make sure nothing of the group outlives it.
    signalGroup('SIGKILL');
    for (let tries = 0; liveProcesses(child.pid!) !== ''; tries++) {
      if (tries === 50) throw new Error(`processes left after stopping wrangler:\n${liveProcesses(child.pid!)}`);
      await sleep(100);
    }
    await rm(persistTo, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let port = 0;
  for (;;) {
    if (!running()) {
      await stop();
      throw new Error(`wrangler dev exited before answering:\n${logs.join('')}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer /healthz in time:\n${logs.join('')}`);
    }
    port ||= Number(/Ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(logs.join(''))?.[1] ?? 0);
    // Any answer counts: a Worker with a configuration error answers 500, and tests may want that.
    const answered =
      port > 0 &&
      (await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => true,
        () => false,
      ));
    if (answered) break;
    await sleep(200);
  }
  return { url: `http://127.0.0.1:${port}/mcp`, port, pid: child.pid!, logs, stop };
}
