// A real PgBouncer (Debian's package; .ci/run installs it) in front of the machine's Postgres, as
// production puts one in front of the database: transaction mode by default, its own
// configuration in a folder of its own, on a free loopback port. PgBouncer refuses to run as root,
// so when the tests run as root it reads its configuration and then becomes the `postgres` user.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_URL } from './db.js';
import { freePort } from './server.js';
import { sleep } from './wait.js';

export interface PgBouncer {
  readonly port: number;
  /** `url` (a database on the machine's Postgres) as reached through the pooler. */
  rewrite(url: string): string;
  /** What PgBouncer logged. */
  readonly log: () => string;
  close(): Promise<void>;
}

export interface PgBouncerOptions {
  poolMode?: 'transaction' | 'session';
  /** Server connections per database and user (PgBouncer's default_pool_size). */
  poolSize?: number;
  /** Startup parameters to accept and drop instead of refusing the connection (as some hosted poolers do). */
  ignoreStartupParameters?: string[];
}

const BINARY = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((path) => existsSync(path));

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startPgBouncer(options: PgBouncerOptions = {}): Promise<PgBouncer> {
  if (!BINARY) throw new Error('PgBouncer is not installed: apt-get install pgbouncer (.ci/run installs it)');
  const upstream = new URL(ADMIN_URL);
  const dir = mkdtempSync(join(tmpdir(), 'baton-pgbouncer-'));
  const asUser = process.getuid?.() === 0 ? ['-u', 'postgres'] : [];
  let output = '';
  // A port found free can be taken before PgBouncer binds it: then it exits, and another is tried.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = join(dir, 'pgbouncer.ini');
    writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(upstream.username) || 'postgres'}" ""\n`);
    writeFileSync(
      config,
      [
        '[databases]',
        `* = host=${upstream.hostname} port=${upstream.port || 5432}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${join(dir, 'users.txt')}`,
        `pool_mode = ${options.poolMode ?? 'transaction'}`,
        `default_pool_size = ${options.poolSize ?? 10}`,
        'max_client_conn = 500',
        'server_check_delay = 0',
        ...(options.ignoreStartupParameters ? [`ignore_startup_parameters = ${options.ignoreStartupParameters.join(',')}`] : []),
        '',
      ].join('\n'),
    );
    const child: ChildProcess = spawn(BINARY, [...asUser, config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let up = false;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && child.exitCode === null; ) {
      if (await reachable(port)) {
        up = true;
        break;
      }
      await sleep(50);
    }
    if (!up) {
      child.kill('SIGKILL');
      await exited;
      continue;
    }
    return {
      port,
      rewrite(url: string) {
        const through = new URL(url);
        through.hostname = '127.0.0.1';
        through.port = String(port);
        return through.toString();
      },
      log: () => output,
      async close() {
        if (child.exitCode === null) {
          child.kill('SIGINT');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`PgBouncer did not start:\n${output}`);
}
