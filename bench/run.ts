// `npm run bench`: starts everything it measures, prints tables, writes bench/results/*.json.
//   --runs N        repetitions of the throughput matrix (medians reported; default 3)
//   --seconds S     measuring time per cell (default 4)
//   --skip-cleanup  leave out the 1,000,000-row cleanup benchmark
//   --only LIST     comma list of sections: startup,throughput,modern,adapter,statements,tasks,build,memory,rows,bundle,channel,pooler,cleanup,telemetry,takeover
//   --before LIST   comma list of commits the telemetry section measures too (no SDK), each from a
//                   temporary git worktree removed afterwards, interleaved with today's code
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { runLoad, type LoadResult } from './load.js';
import { freePort, startServer, ROOT, type RunningServer, untilReady } from '../test/helpers/server.js';
import { modernRequest } from '../test/helpers/modern.js';
import pg from 'pg';
import { build as buildDist } from '../scripts/build.mjs';
import { createTestDatabase } from '../test/helpers/db.js';
import { startWrangler } from '../test/helpers/wrangler.js';
import { RawSession, readMessages } from '../test/helpers/mcp.js';
import { sleep, waitFor } from '../test/helpers/wait.js';
import { SseReader } from '../test/helpers/sse.js';
import { startPgBouncer } from '../test/helpers/pgbouncer.js';
import { parseConfig } from '../src/config/index.js';
import { createPlatform } from '../src/platform/platform.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { migrate } from '../src/store/db/migrate.js';
import { createLogger } from '../src/log.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { Registry } from '../src/core/registry.js';
import { createDispatcher, serveScope } from '../src/era-2025/server.js';
import { connectServer } from '../src/era-2025/server-pool.js';
import { ExchangeRouter } from '../src/era-2025/exchange-router.js';
import { InProcessChannel } from '../src/store/channel/in-process.js';
import { changeNotifier } from '../src/store/channel/changes.js';
import { SessionState } from '../src/core/session-state.js';
import { defineTool, text } from '../src/core/define.js';
import { z } from 'zod';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../src/store/db/database.js';
import { PostTransport } from '../src/era-2025/post-transport.js';

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    'skip-cleanup': { type: 'boolean', default: false },
    only: { type: 'string' },
    before: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const SECONDS = Number(args.seconds);
const sections = new Set(
  (
    args.only ?? 'startup,throughput,modern,adapter,statements,tasks,build,memory,rows,bundle,channel,pooler,cleanup,telemetry,takeover'
  ).split(','),
);
if (args['skip-cleanup']) sections.delete('cleanup');
const quiet = createLogger('error');

/**
 * The platform as `npm start` and the image run it: the built server (dist/, bundled, built once
 * per benchmark run when stale). From the sources through tsx it spends some 20 % more CPU per
 * request (the transpiled private fields and the loader), which is not what users run.
 */
let builtOnce: Promise<void> | undefined;
async function startBuilt(env: Record<string, string>): Promise<RunningServer> {
  builtOnce ??= buildDist({ ifStale: true }).then(() => {});
  await builtOnce;
  return startServer(env, { command: [process.execPath, 'dist/node.js'] });
}

const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  startedAt: new Date().toISOString(),
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

function table(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  console.log(`\n${title}`);
  for (const [index, row] of cells.entries()) {
    console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
    if (index === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

async function startProcess(command: string[], env: Record<string, string>, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${command.join(' ')} did not start:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}:\n${out}`)));
  });
  return child;
}

async function startNeonEndpointProcess(
  postgresUrl: string,
): Promise<{ child: ChildProcess; fetchEndpoint: string; connectionString(db: string): string }> {
  const port = await freePort();
  const child = await startProcess(
    [process.execPath, '--import', 'tsx', 'src/dev/neon-endpoint/cli.ts', '--postgres', postgresUrl, '--port', String(port)],
    {},
    /ready/,
  );
  return {
    child,
    fetchEndpoint: `http://127.0.0.1:${port}/sql`,
    connectionString: (db) => `postgresql://postgres@127.0.0.1:${port}/${db}`,
  };
}

type LoadSummary = Record<string, Record<number, { throughput: number; p50: number; p99: number; errors: number }>>;

/**
 * Measures every target at every concurrency level RUNS times, printing a line per measurement.
 * The order of the targets rotates from run to run, so that none always goes first (JIT warm-up,
 * a busy core). Returns the results by target and level.
 */
async function sampleRotated(
  targets: Record<string, string>,
  levels: number[],
  measure: (name: string, url: string, concurrency: number) => Promise<LoadResult>,
  describe: (result: LoadResult) => string,
): Promise<Record<string, Record<number, LoadResult[]>>> {
  const samples: Record<string, Record<number, LoadResult[]>> = {};
  for (let r = 0; r < RUNS; r++) {
    for (const concurrency of levels) {
      const order = Object.entries(targets);
      for (let k = 0; k < r % order.length; k++) order.push(order.shift()!);
      for (const [name, url] of order) {
        const result = await measure(name, url, concurrency);
        ((samples[name] ??= {})[concurrency] ??= []).push(result);
        process.stdout.write(`  run ${r + 1}/${RUNS} c=${concurrency} ${name}: ${describe(result)}, errors ${result.errors}\n`);
      }
    }
  }
  return samples;
}

/**
 * Runs every target at every concurrency level RUNS times and prints the medians, with each
 * target's throughput relative to the first target (the baseline). The order of the targets
 * rotates from run to run, so that none always goes first (JIT warm-up, a busy core).
 */
async function loadMatrix(
  title: string,
  targets: Record<string, string>,
  levels: number[],
  era: '2025' | '2026',
  /** More ratio columns, as [numerator, denominator] target letters (e.g. ['c', 'e'] prints c/e). */
  ratios: [string, string][] = [],
): Promise<LoadSummary> {
  const samples = await sampleRotated(
    targets,
    levels,
    (_name, url, concurrency) => runLoad(url, { concurrency, seconds: SECONDS, era }),
    (result) => `${fmt(result.throughput, 0)} req/s, p50 ${fmt(result.p50, 2)} ms`,
  );
  const summary: LoadSummary = {};
  for (const name of Object.keys(targets)) {
    for (const level of levels) {
      const list = samples[name]![level]!;
      (summary[name] ??= {})[level] = {
        throughput: median(list.map((x) => x.throughput)),
        p50: median(list.map((x) => x.p50)),
        p99: median(list.map((x) => x.p99)),
        errors: list.reduce((n, x) => n + x.errors, 0),
      };
    }
  }
  const baseline = Object.keys(targets)[0]!;
  const letter = (name: string) => name.split(':')[0]!;
  const byLetter = new Map(Object.keys(targets).map((name) => [letter(name), name]));
  const rows: (string | number)[][] = [];
  for (const [name, byLevel] of Object.entries(summary)) {
    for (const level of levels) {
      const s = byLevel[level]!;
      const base = summary[baseline]![level]!;
      const extra = ratios.map(([over, under]) =>
        letter(name) === over ? fmt(s.throughput / summary[byLetter.get(under)!]![level]!.throughput, 2) : '',
      );
      rows.push([
        name,
        level,
        fmt(s.throughput, 0),
        fmt(s.p50, 2),
        fmt(s.p99, 2),
        s.errors,
        fmt(s.throughput / base.throughput, 2),
        ...extra,
      ]);
    }
  }
  table(
    title,
    [
      'server',
      'conc',
      'req/s',
      'p50 ms',
      'p99 ms',
      'errors',
      `x/${letter(baseline)}`,
      ...ratios.map(([over, under]) => `${over}/${under}`),
    ],
    rows,
  );
  return summary;
}

// ---- (0) resident memory at start: the built server against a stock SDK server ----
/** Resident set size of a process, in MiB (`ps`, so that it reads the same on Linux and macOS). */
async function rssMiB(pid: number): Promise<number> {
  const { stdout } = await run('ps', ['-o', 'rss=', '-p', String(pid)]);
  return Number(stdout.trim()) / 1024;
}

/** Bytes of the files under a path (links followed as the image's copy would). */
function sizeOf(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

async function startup(): Promise<void> {
  await buildDist({ ifStale: true });
  // The stock server as plain JavaScript, its imports left to node_modules as a stock deployment
  // has them: Node's own type stripping would add its TypeScript compiler (~15 MiB) to the figure.
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  const { build: transpile } = await import('esbuild');
  await transpile({
    entryPoints: [`${ROOT}bench/reference-server.ts`],
    outfile: `${ROOT}bench/results/reference-server.mjs`,
    format: 'esm',
    platform: 'node',
    logLevel: 'warning',
  });
  const env = { SESSIONS_STORE: 'memory', BATON_TOOLSETS: 'conformance' };
  const servers: [string, () => Promise<RunningServer>][] = [
    [
      'stock SDK server (bench/reference-server.ts as JavaScript)',
      () => startServer({}, { command: [process.execPath, 'bench/results/reference-server.mjs'] }),
    ],
    ['mcp-baton, built (node dist/node.js)', () => startServer(env, { command: [process.execPath, 'dist/node.js'] })],
    ['mcp-baton, from the sources (node --import tsx)', () => startServer(env)],
  ];
  const measured: Record<string, { startMiB: number; afterCallMiB: number }> = {};
  for (const [name, start] of servers) {
    const startMiB: number[] = [];
    const afterCallMiB: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const server = await start();
      try {
        // Measured as soon as each says it listens: on the memory store there is nothing to wait for.
        startMiB.push(await rssMiB(server.child.pid!));
        const session = new RawSession((request) => fetch(request), server.url);
        await session.initialize();
        await session.callTool('test_simple_text');
        afterCallMiB.push(await rssMiB(server.child.pid!));
      } finally {
        await server.stop();
      }
    }
    measured[name] = { startMiB: median(startMiB), afterCallMiB: median(afterCallMiB) };
  }
  const stock = Object.values(measured)[0]!;
  table(
    `resident memory at start (memory store, conformance toolset; medians of ${RUNS} starts; goal: built <= 1.5x stock)`,
    ['server', 'RSS MiB', 'x stock', 'after 1 tools/call', 'x stock'],
    Object.entries(measured).map(([name, m]) => [
      name,
      fmt(m.startMiB),
      fmt(m.startMiB / stock.startMiB, 2),
      fmt(m.afterCallMiB),
      fmt(m.afterCallMiB / stock.afterCallMiB, 2),
    ]),
  );
  // The image cannot be built without a Docker engine; what its final stage adds to node:24-slim
  // is dist/ and the production dependencies, measured here as installed.
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT });
  const modules = `${ROOT}node_modules/`;
  const topLevel = stdout.split('\n').filter((line) => line.startsWith(modules) && !line.slice(modules.length).includes('/node_modules/'));
  const dependencies = topLevel.reduce((sum, path) => sum + sizeOf(path), 0);
  const dist = sizeOf(`${ROOT}dist`);
  table(
    'the container image (deploy/kubernetes/Dockerfile), what its final stage adds to node:24-slim',
    ['what', 'MiB'],
    [
      ['dist/ (built server and command line, with source maps)', fmt(dist / 2 ** 20)],
      ['production dependencies (npm ci --omit=dev)', fmt(dependencies / 2 ** 20)],
    ],
  );
  results.startup = { rssMiB: measured, imageAddsBytes: { dist, dependencies } };
}

// ---- (1) throughput and latency: (a) SDK reference, (b) memory, (c) pg, (d) neon-http, and the
// floors of (c) and (d): (a) plus one statement per request of the shape of the store's open,
// (e) over pg, (f) over neon-http through the same local endpoint ----
async function throughput(): Promise<void> {
  const pgDb = await createTestDatabase('baton_bench_pg');
  const neonDb = await createTestDatabase('baton_bench_neon');
  const floorPgDb = await createTestDatabase('baton_bench_floor_pg');
  const floorNeonDb = await createTestDatabase('baton_bench_floor_neon');
  const endpoint = await startNeonEndpointProcess('postgres://postgres@127.0.0.1:5432/postgres');
  const references: ChildProcess[] = [];
  /** The SDK reference server; with a floor driver, plus the statement a durable session cannot avoid. */
  const reference = async (floor: Record<string, string> = {}) => {
    const port = await freePort();
    references.push(
      await startProcess([process.execPath, '--import', 'tsx', 'bench/reference-server.ts'], { PORT: String(port), ...floor }, /listening/),
    );
    return `http://127.0.0.1:${port}/mcp`;
  };
  const servers: RunningServer[] = [];
  try {
    // The floors read the platform's own session table: their databases get its schema first.
    for (const db of [floorPgDb, floorNeonDb]) {
      const database = openPg({ dsn: db.url, statementTimeoutMs: 30_000 });
      await migrate(database).finally(() => database.close());
    }
    const common = { BATON_TOOLSETS: 'conformance' };
    // Each is recorded as soon as it runs, so that the finally below stops it whatever fails next.
    const started = (server: RunningServer) => {
      servers.push(server);
      return server;
    };
    const [memory, pgServer, neonServer] = await Promise.all([
      startBuilt({ ...common, SESSIONS_STORE: 'memory' }).then(started),
      startBuilt({ ...common, SESSIONS_STORE: 'database', DATABASE_URL: pgDb.url }).then(started),
      startBuilt({
        ...common,
        SESSIONS_STORE: 'database',
        DATABASE_DRIVER: 'neon-http',
        DATABASE_URL: endpoint.connectionString(neonDb.name),
        DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
      }).then(started),
    ]);
    const targets = {
      'a: SDK reference': await reference(),
      'b: baton memory': memory.url,
      'c: baton pg': pgServer.url,
      'd: baton neon-http': neonServer.url,
      'e: floor pg (a + open statement)': await reference({ FLOOR_DRIVER: 'pg', FLOOR_DATABASE_URL: floorPgDb.url }),
      'f: floor neon-http (a + open statement)': await reference({
        FLOOR_DRIVER: 'neon-http',
        FLOOR_DATABASE_URL: endpoint.connectionString(floorNeonDb.name),
        FLOOR_HTTP_ENDPOINT: endpoint.fetchEndpoint,
      }),
    };
    results.throughput = await loadMatrix(
      `tools/call throughput and latency (medians of ${RUNS} runs, ${SECONDS} s each)`,
      targets,
      [1, 16, 64],
      '2025',
      [
        ['c', 'e'],
        ['d', 'f'],
      ],
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    for (const child of references) child.kill('SIGTERM');
    endpoint.child.kill('SIGTERM');
    await Promise.all([pgDb, neonDb, floorPgDb, floorNeonDb].map((db) => db.drop()));
  }
}

// ---- (1c) telemetry: the pg server without an SDK, with tracing (batch exporter, OTLP/HTTP to a
// local sink that accepts everything), and with tracing and Prometheus metrics ----
async function telemetry(): Promise<void> {
  const db = await createTestDatabase('baton_bench_otel');
  const { createServer } = await import('node:http');
  const sink = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const sinkAddress = sink.address();
  const endpoint = `http://127.0.0.1:${typeof sinkAddress === 'object' && sinkAddress ? sinkAddress.port : 0}`;
  const servers: RunningServer[] = [];
  const worktrees: string[] = [];
  const olderDbs: Awaited<ReturnType<typeof createTestDatabase>>[] = [];
  try {
    const common = { BATON_TOOLSETS: 'conformance', SESSIONS_STORE: 'database', DATABASE_URL: db.url };
    const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
    for (const env of [common, { ...common, ...tracing }, { ...common, ...tracing, BATON_METRICS_PORT: '0' }])
      servers.push(await startServer(env));
    const targets: Record<string, string> = {
      'a: no SDK': servers[0]!.url,
      'b: tracing (batch OTLP)': servers[1]!.url,
      'c: tracing + metrics': servers[2]!.url,
    };
    // Older code, as it was: its own worktree (sharing this node_modules), its own database.
    for (const [index, commit] of (args.before ?? '').split(',').filter(Boolean).entries()) {
      const dir = mkdtempSync(join(tmpdir(), 'baton-before-'));
      rmSync(dir, { recursive: true });
      await run('git', ['worktree', 'add', '--detach', dir, commit], { cwd: ROOT });
      worktrees.push(dir);
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const olderDb = await createTestDatabase(`baton_bench_before_${index}`);
      olderDbs.push(olderDb);
      const older = await startServer({ ...common, DATABASE_URL: olderDb.url }, { cwd: dir });
      servers.push(older);
      targets[`z${index + 1}: ${commit.slice(0, 7)} (no SDK)`] = older.url;
    }
    const pids = Object.fromEntries(Object.keys(targets).map((name, i) => [name, servers[i]!.child.pid!]));
    results.telemetry = await cpuMatrix(targets, pids, [1, 16]);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    for (const dir of worktrees) await run('git', ['worktree', 'remove', '--force', dir], { cwd: ROOT });
    sink.close();
    await Promise.all([db, ...olderDbs].map((d) => d.drop()));
  }
}

/** A process's CPU time so far (user + system), in seconds, from /proc (Linux). */
function cpuSecondsOf(pid: number): number {
  // The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * The telemetry section's matrix: throughput, and the server's CPU time per request, which a
 * machine shared with other work disturbs far less than throughput (the other work takes cores
 * away from the server, not instructions added to each of its requests). Targets are interleaved
 * and rotated per run; ratios to the first target are taken within each run, then the median.
 */
async function cpuMatrix(targets: Record<string, string>, pids: Record<string, number>, levels: number[]) {
  const samples = await sampleRotated(
    targets,
    levels,
    (name, url, concurrency) => runLoad(url, { concurrency, seconds: SECONDS, era: '2025', serverCpu: () => cpuSecondsOf(pids[name]!) }),
    (result) => `${fmt(result.throughput, 0)} req/s, ${fmt(result.cpuMsPerRequest!, 3)} ms CPU/request`,
  );
  const base = Object.keys(targets)[0]!;
  const spread = (xs: number[], digits: number) => `${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)}`;
  const rows: (string | number)[][] = [];
  const summary: Record<string, Record<number, Record<string, number>>> = {};
  for (const name of Object.keys(targets)) {
    for (const level of levels) {
      const list = samples[name]![level]!;
      const own = list.map((x) => x.cpuMsPerRequest!);
      const throughputs = list.map((x) => x.throughput);
      const paired = list.map((x, i) => x.cpuMsPerRequest! / samples[base]![level]![i]!.cpuMsPerRequest!);
      const pairedThroughput = list.map((x, i) => x.throughput / samples[base]![level]![i]!.throughput);
      (summary[name] ??= {})[level] = {
        throughput: median(throughputs),
        cpuMsPerRequest: median(own),
        cpuRatio: median(paired),
        throughputRatio: median(pairedThroughput),
      };
      rows.push([
        name,
        level,
        fmt(median(throughputs), 0),
        spread(throughputs, 0),
        fmt(median(own), 3),
        spread(own, 3),
        fmt(median(paired), 3),
        spread(paired, 2),
        fmt(median(pairedThroughput), 2),
      ]);
    }
  }
  table(
    `telemetry: pg server tools/call, ${RUNS} interleaved runs of ${SECONDS} s (medians; spreads min-max; x/a within each run)`,
    ['server', 'conc', 'req/s', 'req/s spread', 'CPU ms/req', 'CPU spread', 'CPU x/a', 'CPU x/a spread', 'req/s x/a'],
    rows,
  );
  return summary;
}

// ---- (1b) 2026-07-28 tools/call: a stock SDK v2 createMcpHandler server against the platform ----
async function modern(): Promise<void> {
  const pgDb = await createTestDatabase('baton_bench_modern');
  const referencePort = await freePort();
  const reference = await startProcess(
    [process.execPath, '--import', 'tsx', 'bench/reference-modern-server.ts'],
    { PORT: String(referencePort) },
    /listening/,
  );
  const servers: RunningServer[] = [];
  try {
    const common = { BATON_TOOLSETS: 'conformance' };
    servers.push(
      ...(await Promise.all([
        startBuilt({ ...common, SESSIONS_STORE: 'memory' }),
        startBuilt({ ...common, SESSIONS_STORE: 'database', DATABASE_URL: pgDb.url }),
      ])),
    );
    const targets = {
      'a2: SDK v2 createMcpHandler': `http://127.0.0.1:${referencePort}/mcp`,
      'b2: baton memory': servers[0]!.url,
      'c2: baton pg': servers[1]!.url,
    };
    results.modern = await loadMatrix(
      `2026-07-28 tools/call throughput and latency (medians of ${RUNS} runs, ${SECONDS} s each)`,
      targets,
      [1, 16],
      '2026',
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    reference.kill('SIGTERM');
    await pgDb.drop();
  }
}

// ---- (1c) the library: a tool declared with defineTool against the same tool of a stock SDK
// registration served through fromSdkServer (test/fixtures/stock-main.ts), both eras ----
async function adapter(): Promise<void> {
  const servers = await Promise.all([
    startServer({ BATON_TOOLSETS: 'conformance', SESSIONS_STORE: 'memory' }),
    startServer({ SESSIONS_STORE: 'memory' }, { command: [process.execPath, '--import', 'tsx', 'test/fixtures/stock-main.ts'] }),
  ]);
  try {
    const targets = { 'e: defineTool': servers[0]!.url, 'f: fromSdkServer': servers[1]!.url };
    results.adapter = {
      sessions: await loadMatrix(`2025 sessions, tools/call: defineTool against fromSdkServer (memory store)`, targets, [1, 16], '2025'),
      stateless: await loadMatrix(`2026-07-28 tools/call: defineTool against fromSdkServer (memory store)`, targets, [1, 16], '2026'),
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

// ---- (2) statements per request kind, counted by the driver-level counter ----
async function statements(): Promise<void> {
  const pgDb = await createTestDatabase('baton_bench_stmt');
  const neonDb = await createTestDatabase('baton_bench_stmt_neon');
  const endpoint = await startNeonEndpointProcess('postgres://postgres@127.0.0.1:5432/postgres');
  const rows: (string | number)[][] = [];
  const counted: Record<string, Record<string, number>> = {};
  try {
    for (const [driver, database] of [
      ['pg', { driver: 'pg', dsn: pgDb.url }],
      ['neon-http', { driver: 'neon-http', dsn: endpoint.connectionString(neonDb.name), http_endpoint: endpoint.fetchEndpoint }],
    ] as const) {
      const config = parseConfig({ sessions: { store: 'database' }, database, toolsets: ['conformance'] }, {});
      const platform = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
      const counter = (platform.store as DatabaseSessionStore).database.statements;
      const count = async (run: () => Promise<unknown>) => {
        const before = counter.count;
        await run();
        return counter.count - before;
      };
      const session = new RawSession((r) => platform.app.fetch(r));
      const c: Record<string, number> = {};
      c['first request of a fresh instance (initialize)'] = await count(() => session.initialize());
      c['initialize'] = await count(() => new RawSession((r) => platform.app.fetch(r)).initialize());
      c['notification'] = await count(() => session.notify('notifications/initialized'));
      c['tools/call, state unchanged'] = await count(() => session.callTool('test_simple_text'));
      c['logging/setLevel, state changed'] = await count(() => session.request('logging/setLevel', { level: 'info' }));
      c['GET (open the event stream)'] = await count(async () => {
        const stream = new SseReader(await session.send('GET', undefined));
        await stream.next();
        await stream.cancel();
      });
      c['reply to a request waiting on another instance'] = await count(() =>
        session.send('POST', { jsonrpc: '2.0', id: 'AnotherInst1.1', result: { action: 'decline' } }),
      );
      c['cancel of a request running elsewhere'] = await count(() => session.notify('notifications/cancelled', { requestId: 99 }));
      c['DELETE'] = await count(() => session.delete());
      counted[driver] = c;
      await platform.close();
    }
    for (const kind of Object.keys(counted.pg!)) rows.push([kind, counted.pg![kind]!, counted['neon-http']![kind]!]);
    table('database statements per request (neon-http: one HTTP round trip each)', ['request', 'pg', 'neon-http'], rows);
    results.statements = counted;
  } finally {
    endpoint.child.kill('SIGTERM');
    await pgDb.drop();
    await neonDb.drop();
  }
}

// ---- (2b) tasks: statements per task operation per driver, and a task's creation and first poll
// against a plain call of the same tool, through the real HTTP stack ----
const TASKS_EXTENSION = { 'io.modelcontextprotocol/tasks': {} };

/** One 2026-07-28 request (declaring the tasks extension, or not) through `fetch`; its JSON-RPC answer. */
async function modernCall(
  fetcher: (request: Request) => Promise<Response>,
  url: string,
  method: string,
  params: Record<string, unknown>,
  tasks = true,
) {
  const capabilities = { elicitation: { form: {} }, ...(tasks && { extensions: TASKS_EXTENSION }) };
  const headers: Record<string, string> = typeof params.taskId === 'string' ? { 'mcp-name': params.taskId } : {};
  const response = await fetcher(
    modernRequest(url, method, { ...params, _meta: { 'io.modelcontextprotocol/clientCapabilities': capabilities } }, headers),
  );
  const [message] = await readMessages(response);
  if (!message || message.error) throw new Error(`${method} answered ${JSON.stringify(message)}`);
  return message.result;
}

async function tasksBench(): Promise<void> {
  const pgDb = await createTestDatabase('baton_bench_tasks');
  const neonDb = await createTestDatabase('baton_bench_tasks_neon');
  const pgliteDir = mkdtempSync(join(tmpdir(), 'baton-bench-tasks-'));
  const endpoint = await startNeonEndpointProcess('postgres://postgres@127.0.0.1:5432/postgres');
  const servers: RunningServer[] = [];
  const out: Record<string, unknown> = {};
  try {
    // Statements, counted by the driver-level counter of a platform in this process.
    const counted: Record<string, Record<string, number>> = {};
    for (const [driver, database] of [
      ['pg', { driver: 'pg', dsn: pgDb.url }],
      ['neon-http', { driver: 'neon-http', dsn: endpoint.connectionString(neonDb.name), http_endpoint: endpoint.fetchEndpoint }],
      ['pglite', { driver: 'pglite', pglite_dir: pgliteDir }],
    ] as const) {
      const config = parseConfig({ sessions: { store: 'database' }, database, toolsets: ['conformance'] }, {});
      const platform = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
      try {
        await platform.store.ready?.();
        const counter = (platform.store as DatabaseSessionStore).database.statements;
        const call = (method: string, params: Record<string, unknown>) =>
          modernCall(async (r) => platform.app.fetch(r), 'http://127.0.0.1/mcp', method, params);
        // Statements of the operation itself: on neon-http, an instance running a task also reads
        // the channel's table every poll_interval (to hear a cancel), and such reads landing in the
        // window are counted apart (`channelReads`), not as the operation's.
        let channelReads = 0;
        const isChannelRead = (query: string) => /^\s*with clock as|^\s*select id, topic, at, payload from/.test(query);
        const count = async <T>(run: () => Promise<T>): Promise<[number, T]> => {
          const before = counter.count;
          const value = await run();
          const sent = counter.recent.slice(-(counter.count - before));
          const reads = sent.filter(isChannelRead).length;
          channelReads += reads;
          return [sent.length - reads, value];
        };
        const finished = (taskId: string) =>
          waitFor(
            async () => ['completed', 'failed', 'cancelled'].includes((await platform.store.tasks.get(taskId, 'all'))?.status ?? ''),
            {
              what: `task ${taskId.slice(0, 8)} to end`,
            },
          );
        // Warm: the instance's first request pays for things every later one finds ready.
        const warm = await call('tools/call', { name: 'slow_compute', arguments: { seconds: 0 } });
        await finished(warm.taskId);
        const c: Record<string, number> = {};
        // A handler that waits keeps its own writes out of the count of the request.
        const [create, long] = await count(() => call('tools/call', { name: 'slow_compute', arguments: { seconds: 600 } }));
        c['tools/call creating a task (the record, leased here)'] = create;
        c['tasks/get'] = (await count(() => call('tasks/get', { taskId: long.taskId })))[0];
        // The runner renews every lease it holds in one statement, however many tasks run.
        const more = await Promise.all(
          Array.from({ length: 9 }, () => call('tools/call', { name: 'slow_compute', arguments: { seconds: 600 } })),
        );
        c['lease renewal (10 tasks running here)'] = (
          await count(() => platform.store.tasks.renew(platform.tasks.owner, platform.tasks.leaseMs))
        )[0];
        // Everything the instance sends while 10 tasks run here and no request comes: lease renewals
        // (one statement every leaseMs / 3), and on neon-http the channel's polls.
        const idleSeconds = 10;
        const idleBefore = counter.count;
        await sleep(idleSeconds * 1000);
        c['while 10 tasks run, no requests: statements/s'] = Number(((counter.count - idleBefore) / idleSeconds).toFixed(2));
        c['tasks/cancel'] = (await count(() => call('tasks/cancel', { taskId: long.taskId })))[0];
        for (const task of more) await call('tasks/cancel', { taskId: task.taskId });
        // What the handler writes after the request: waited for in this instance's runner, which
        // sends no statement, and the creation (measured above) taken off.
        const ranOut = (taskId: string) =>
          waitFor(() => !platform.tasks.running.includes(taskId), { what: `the handler of ${taskId.slice(0, 8)} to end here` });
        const [createAndSettle] = await count(async () => {
          const quick = await call('tools/call', { name: 'slow_compute', arguments: { seconds: 0 } });
          await ranOut(quick.taskId);
        });
        const outcome = createAndSettle - create;
        c['outcome written by the handler (completed)'] = outcome;
        const [createAndAsk, asking] = await count(async () => {
          const task = await call('tools/call', { name: 'confirm_delete', arguments: { filename: 'a.txt' } });
          await ranOut(task.taskId);
          return task;
        });
        c['input requested by the handler (input_required, lease let go)'] = createAndAsk - create;
        // tasks/update resumes the handler here at once: the update and the handler's run, minus its outcome.
        const [updateAndRun] = await count(async () => {
          await call('tasks/update', {
            taskId: asking.taskId,
            inputResponses: { confirm: { action: 'accept', content: { confirm: true } } },
          });
          await ranOut(asking.taskId);
        });
        c['tasks/update answering the last request (resumes here)'] = updateAndRun - outcome;
        await finished(asking.taskId);
        c['(channel reads that fell in the windows above)'] = channelReads;
        counted[driver] = c;
      } finally {
        await platform.close();
      }
    }
    const kinds = Object.keys(counted.pg!);
    table(
      'database statements per task operation (neon-http: one HTTP round trip each; pglite: embedded, one process)',
      ['operation', 'pg', 'neon-http', 'pglite'],
      kinds.map((kind) => [kind, counted.pg![kind]!, counted['neon-http']![kind]!, counted.pglite![kind]!]),
    );
    out.statements = counted;

    // Latency through the real HTTP stack: a server process per store, a plain call of slow_compute
    // (seconds 0, answered in the request) against the same call made a task and polled once.
    const rounds = Math.max(50, RUNS * 50);
    const common = { BATON_TOOLSETS: 'conformance' };
    const envs: Record<string, Record<string, string>> = {
      memory: { ...common, SESSIONS_STORE: 'memory' },
      pg: { ...common, SESSIONS_STORE: 'database', DATABASE_URL: pgDb.url },
      'neon-http': {
        ...common,
        SESSIONS_STORE: 'database',
        DATABASE_DRIVER: 'neon-http',
        DATABASE_URL: endpoint.connectionString(neonDb.name),
        DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
      },
    };
    const rows: (string | number)[][] = [];
    const latency: Record<string, unknown> = {};
    const load = loadavg()[0]!;
    for (const [store, env] of Object.entries(envs)) {
      const server = await startServer(env);
      servers.push(server);
      const send = (method: string, params: Record<string, unknown>, tasks = true) =>
        modernCall((r) => fetch(r), server.url, method, params, tasks);
      const plain: number[] = [];
      const task: number[] = [];
      let completedAtFirstPoll = 0;
      // Alternated, so that both see the same load; the first rounds warm up and are not kept.
      for (let i = -10; i < rounds; i++) {
        let started = performance.now();
        const inline = await send('tools/call', { name: 'slow_compute', arguments: { seconds: 0 } }, false);
        const plainMs = performance.now() - started;
        if (inline.resultType !== 'complete') throw new Error(`the plain call answered ${JSON.stringify(inline)}`);
        started = performance.now();
        const created = await send('tools/call', { name: 'slow_compute', arguments: { seconds: 0 } });
        const polled = await send('tasks/get', { taskId: created.taskId });
        const taskMs = performance.now() - started;
        if (i < 0) continue;
        plain.push(plainMs);
        task.push(taskMs);
        if (polled.status === 'completed') completedAtFirstPoll++;
      }
      const spread = (xs: number[]) => `${fmt(percentile(xs, 0.1), 2)}-${fmt(percentile(xs, 0.9), 2)}`;
      rows.push([
        store,
        fmt(median(plain), 2),
        spread(plain),
        fmt(median(task), 2),
        spread(task),
        fmt(median(task) / median(plain), 2),
        `${completedAtFirstPoll}/${rounds}`,
      ]);
      latency[store] = {
        plain: { p50: median(plain), p10: percentile(plain, 0.1), p90: percentile(plain, 0.9) },
        taskCreateAndFirstPoll: { p50: median(task), p10: percentile(task, 0.1), p90: percentile(task, 0.9) },
        completedAtFirstPoll,
        rounds,
      };
      await server.stop();
    }
    table(
      `2026-07-28 slow_compute (0 s) through HTTP: a plain call against creating it as a task + the first tasks/get (${rounds} rounds each, alternated; load average ${fmt(load, 2)} on ${cpus().length} cores at the start)`,
      ['store', 'plain p50 ms', 'p10-p90', 'task+poll p50 ms', 'p10-p90', 'x plain', 'done at 1st poll'],
      rows,
    );
    out.latency = latency;
    out.loadAverageAtStart = load;
    results.tasks = out;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    endpoint.child.kill('SIGTERM');
    await Promise.all([pgDb.drop(), neonDb.drop()]);
    rmSync(pgliteDir, { recursive: true, force: true });
  }
}

// ---- (3) cost of the server a request runs on, against a whole tools/call ----
async function build(): Promise<void> {
  const tool = (i: number) =>
    defineTool({
      name: `tool_${i}`,
      description: `Tool number ${i}`,
      input: { a: z.string(), b: z.number().optional() },
      handler: () => text('ok'),
    });
  const initialize = {
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'b', version: '1' } },
  };
  const scope = {
    sessionId: 's',
    session: new SessionState(),
    credentialHash: '',
    principal: undefined,
    changes: changeNotifier(new InProcessChannel(60_000)),
  };
  // What a request pays for its server: on a pool miss, build + connect + restore + attach;
  // on a hit, only attaching the request's HTTP transport to an idle restored server.
  const measure = async (registry: Registry, iterations: number, pooled: boolean) => {
    const dispatch = createDispatcher(registry);
    const router = new ExchangeRouter('bench-instance', new InProcessChannel(60_000), createLogger('error'));
    const restored = async () => {
      const entry = await connectServer(registry, 's', router);
      await entry.transport.restore(initialize);
      return entry;
    };
    const kept = await restored();
    const once = async () => {
      const { server, transport } = pooled ? kept : await restored();
      serveScope(server, dispatch, scope);
      const exchange = await transport.attach(new PostTransport(), { requestIds: [], holdLastAnswer: false });
      exchange.abandon();
    };
    for (let i = 0; i < 200; i++) await once();
    const started = performance.now();
    for (let i = 0; i < iterations; i++) await once();
    return ((performance.now() - started) / iterations) * 1000;
  };
  const registries = {
    one: new Registry([{ name: 'one', description: '', tools: [tool(0)] }]),
    fifty: new Registry([{ name: 'fifty', description: '', tools: Array.from({ length: 50 }, (_, i) => tool(i)) }]),
  };
  // Rounds in turning order, so that no cell always follows the same one (and its garbage);
  // medians, so that the first rounds, which only warm the JIT up, do not count.
  const samples = { one: [] as number[], fifty: [] as number[], pooled: [] as number[] };
  const cells = [
    async () => samples.one.push(await measure(registries.one, 1000, false)),
    async () => samples.fifty.push(await measure(registries.fifty, 1000, false)),
    async () => samples.pooled.push(await measure(registries.fifty, 1000, true)),
  ];
  for (let round = 0; round < 9; round++) {
    for (let i = 0; i < cells.length; i++) await cells[(round + i) % cells.length]!();
  }
  const one = median(samples.one);
  const fifty = median(samples.fifty);
  const pooled = median(samples.pooled);

  const config = parseConfig({ toolsets: ['conformance'] }, {});
  const platform = await createPlatform(config, { logger: quiet });
  const session = new RawSession((r) => platform.app.fetch(r));
  await session.initialize();
  for (let i = 0; i < 2000; i++) await session.callTool('test_simple_text');
  // Median of rounds, like the cells above: one round that meets a major GC says little.
  const rounds: number[] = [];
  for (let round = 0; round < 7; round++) {
    const n = 1000;
    const started = performance.now();
    for (let i = 0; i < n; i++) await session.callTool('test_simple_text');
    rounds.push(((performance.now() - started) / n) * 1000);
  }
  const call = median(rounds);
  table(
    'the server a request runs on, in process',
    ['what', 'µs', '% of tools/call'],
    [
      ['restored (pool miss: build + connect + restore + attach), 1 tool', fmt(one, 1), fmt((one / call) * 100, 1)],
      ['restored (pool miss), 50 tools', fmt(fifty, 1), fmt((fifty / call) * 100, 1)],
      ['from the pool (attach only), 50 tools', fmt(pooled, 1), fmt((pooled / call) * 100, 1)],
      ['whole tools/call (memory store, in process, pool hit)', fmt(call, 1), '100.0'],
    ],
  );
  results.build = { oneToolMicros: one, fiftyToolsMicros: fifty, pooledMicros: pooled, toolsCallMicros: call };
}

// ---- (4) memory store: resident bytes per idle session ----
async function memory(): Promise<void> {
  const rows: (string | number)[][] = [];
  const out: unknown[] = [];
  for (const count of [10_000, 100_000]) {
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/memory-child.ts', String(count)], {
      cwd: ROOT,
    });
    const m = JSON.parse(stdout.trim().split('\n').pop()!);
    out.push(m);
    rows.push([count, fmt(m.rssBytesPerSession, 0), fmt(m.heapBytesPerSession, 0)]);
  }
  table('memory store, per idle session', ['sessions', 'RSS bytes', 'heap bytes'], rows);
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/memory-child.ts', 'pool'], { cwd: ROOT });
  const pooled = JSON.parse(stdout.trim().split('\n').pop()!);
  table(
    'pool of idle restored servers, when full',
    ['servers', 'RSS bytes each', 'heap bytes each', 'heap in all'],
    [
      [
        pooled.servers,
        fmt(pooled.rssBytesPerServer, 0),
        fmt(pooled.heapBytesPerServer, 0),
        `${fmt((pooled.heapBytesPerServer * pooled.servers) / 1048576, 1)} MiB`,
      ],
    ],
  );
  results.memory = { store: out, pool: pooled };
}

// ---- (5) bytes per session row in Postgres ----
async function rowSize(): Promise<void> {
  const db = await createTestDatabase('baton_bench_rows');
  try {
    const config = parseConfig({ sessions: { store: 'database' }, database: { driver: 'pg', dsn: db.url } }, {});
    const platform = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    const store = platform.store as DatabaseSessionStore;
    const n = 10_000;
    for (let i = 0; i < n; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.create({
            id: `bench-${i + j}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
            credentialHash: 'f'.repeat(64),
            protocolVersion: '2025-11-25',
            clientCapabilities: { elicitation: { form: {} }, sampling: {}, roots: { listChanged: true } },
            clientInfo: { name: 'claude-code', version: '2.1.0' },
            state: { 'mcp.logging_level': 'info', 'enrich.sent:public.orders': Date.now() },
          }),
        ),
      );
    }
    const [row] = rowsOf<{ per_row: number; n: number }>(
      await store.database.db.execute(
        sql.raw(`select pg_total_relation_size('baton.sessions')::float8 / count(*) as per_row, count(*)::int as n from baton.sessions`),
      ),
    );
    table('Postgres bytes per session row (table + indexes + toast)', ['rows', 'bytes/row'], [[row!.n, fmt(Number(row!.per_row), 0)]]);
    results.rowBytes = { rows: row!.n, bytesPerRow: Number(row!.per_row) };
    await platform.close();
  } finally {
    await db.drop();
  }
}

// ---- (6) the Worker bundle and a fresh workerd instance's first response ----
async function bundle(): Promise<void> {
  const outdir = mkdtempSync(join(tmpdir(), 'baton-bundle-'));
  try {
    await run(`${ROOT}node_modules/.bin/wrangler`, ['deploy', '--dry-run', '--outdir', outdir], { cwd: ROOT });
    let raw = 0;
    let gz = 0;
    for (const file of readdirSync(outdir)) {
      if (!file.endsWith('.js')) continue;
      raw += statSync(join(outdir, file)).size;
      gz += gzipSync(readFileSync(join(outdir, file)), { level: 9 }).length;
    }
    const spawned = performance.now();
    const worker = await startWrangler({ vars: { BATON_TOOLSETS: 'conformance' } });
    const ready = performance.now();
    const session = new RawSession((r) => fetch(r), worker.url);
    const response = await session.initialize();
    const first = performance.now();
    await worker.stop();
    if (response.status !== 200) throw new Error(`fresh Worker answered ${response.status}`);
    table(
      'Worker bundle (wrangler deploy --dry-run)',
      ['what', 'value'],
      [
        ['raw KiB', fmt(raw / 1024, 1)],
        ['gzip KiB', fmt(gz / 1024, 1)],
        ['fresh workerd: first response after ready (ms)', fmt(first - ready, 0)],
        ['fresh workerd: spawn to first response (ms)', fmt(first - spawned, 0)],
      ],
    );
    results.bundle = { rawBytes: raw, gzipBytes: gz, firstResponseAfterReadyMs: first - ready, spawnToFirstResponseMs: first - spawned };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

// ---- (7) the channel: a cross-instance elicitation's round trip; what waiting costs ----
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

/**
 * From the client's reply (a POST to `replyUrl`) to the tool's result on the call's stream (opened
 * on `callUrl`): the reply's own request, its way to the waiting tool, and the answer back.
 */
async function elicitationRoundTrips(callUrl: string, replyUrl: string, rounds: number): Promise<number[]> {
  const session = new RawSession((r) => fetch(r), callUrl);
  await session.initialize({ elicitation: {} });
  const other = new RawSession((r) => fetch(r), replyUrl);
  other.id = session.id;
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const call = { jsonrpc: '2.0', id: i + 2, method: 'tools/call', params: { name: 'test_elicitation', arguments: { message: `q${i}` } } };
    const reader = new SseReader(await session.send('POST', call));
    const asked = (await reader.until((e) => e.message?.method === 'elicitation/create')).at(-1)!;
    const started = performance.now();
    const reply = await other.send('POST', {
      jsonrpc: '2.0',
      id: asked.message.id,
      result: { action: 'accept', content: { username: 'u', email: 'e@x' } },
    });
    if (reply.status !== 202) throw new Error(`reply answered ${reply.status}`);
    const answered = (await reader.until((e) => e.message?.result !== undefined)).at(-1);
    if (!answered) throw new Error('no answer');
    times.push(performance.now() - started);
  }
  return times;
}

async function channelBench(): Promise<void> {
  const pgDb = await createTestDatabase('baton_bench_channel');
  const neonDb = await createTestDatabase('baton_bench_channel_neon');
  const endpoint = await startNeonEndpointProcess('postgres://postgres@127.0.0.1:5432/postgres');
  const servers: RunningServer[] = [];
  const out: Record<string, unknown> = {};
  try {
    const common = { BATON_TOOLSETS: 'conformance', SESSIONS_STORE: 'database' };
    const envs = {
      pg: { ...common, DATABASE_URL: pgDb.url },
      'neon-http': {
        ...common,
        DATABASE_DRIVER: 'neon-http',
        DATABASE_URL: endpoint.connectionString(neonDb.name),
        DATABASE_HTTP_ENDPOINT: endpoint.fetchEndpoint,
      },
    };
    const rows: (string | number)[][] = [];
    const rounds = 30;
    for (const [driver, env] of Object.entries(envs)) {
      const [a, b] = [await startServer(env), await startServer(env)];
      servers.push(a, b);
      await elicitationRoundTrips(a.url, b.url, 3); // warm-up
      const same = await elicitationRoundTrips(a.url, a.url, rounds);
      const cross = await elicitationRoundTrips(a.url, b.url, rounds);
      for (const [where, times] of [
        ['reply to the same instance', same],
        ['reply to the other instance', cross],
      ] as const) {
        rows.push([driver, where, fmt(median(times), 1), fmt(percentile(times, 0.95), 1), fmt(Math.max(...times), 1)]);
        (out.roundTrip ??= {} as Record<string, unknown>) as Record<string, unknown>;
        (out.roundTrip as Record<string, unknown>)[`${driver}: ${where}`] = { p50: median(times), p95: percentile(times, 0.95) };
      }
    }
    table(
      `elicitation round trip: client reply sent -> tool result received (${rounds} rounds; neon-http polls every 500 ms)`,
      ['driver', 'reply goes to', 'p50 ms', 'p95 ms', 'max ms'],
      rows,
    );

    // What waiting costs: statements the waiting instance sends while nothing happens.
    const costRows: (string | number)[][] = [];
    const seconds = 5;
    for (const [driver, database] of [
      ['pg', { driver: 'pg', dsn: pgDb.url }],
      ['neon-http', { driver: 'neon-http', dsn: endpoint.connectionString(neonDb.name), http_endpoint: endpoint.fetchEndpoint }],
    ] as const) {
      const platform = await createPlatform(parseConfig({ sessions: { store: 'database' }, database, toolsets: ['conformance'] }, {}), {
        logger: quiet,
        openDatabase: openNodeDatabase,
      });
      const counter = (platform.store as DatabaseSessionStore).database.statements;
      const measure = async (label: string, start: () => Promise<() => Promise<void>>) => {
        const stop = await start();
        const before = counter.count;
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        const spent = counter.count - before;
        await stop();
        costRows.push([driver, label, fmt(spent / seconds, 2)]);
        ((out.waitingCost ??= {}) as Record<string, number>)[`${driver}: ${label}`] = spent / seconds;
      };
      const waitingTools = (n: number) => async () => {
        const readers: { reader: SseReader; session: RawSession; id: string }[] = [];
        for (let i = 0; i < n; i++) {
          const session = new RawSession((r) => platform.app.fetch(r));
          await session.initialize({ elicitation: {} });
          const call = {
            jsonrpc: '2.0',
            id: 2,
            method: 'tools/call',
            params: { name: 'test_elicitation', arguments: { message: 'wait' } },
          };
          const reader = new SseReader(await session.send('POST', call));
          const asked = (await reader.until((e) => e.message?.method === 'elicitation/create')).at(-1)!;
          readers.push({ reader, session, id: asked.message.id });
        }
        return async () => {
          for (const { reader, session, id } of readers) {
            await session.send('POST', { jsonrpc: '2.0', id, result: { action: 'decline' } });
            await reader.rest();
          }
        };
      };
      await measure('1 tool waiting for an elicitation reply', waitingTools(1));
      await measure('10 tools waiting (one instance)', waitingTools(10));
      await measure('1 idle GET stream', async () => {
        const session = new RawSession((r) => platform.app.fetch(r));
        await session.initialize();
        const reader = new SseReader(await session.send('GET', undefined));
        await reader.next();
        return () => reader.cancel();
      });
      await measure('nothing waiting', async () => async () => {});
      await platform.close();
    }
    table(
      `what waiting costs: statements per second the waiting instance sends (${seconds} s each; neon-http: each is an HTTP round trip)`,
      ['driver', 'what waits', 'statements/s'],
      costRows,
    );
    results.channel = out;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    endpoint.child.kill('SIGTERM');
    await pgDb.drop();
    await neonDb.drop();
  }
}

// ---- (7b) behind PgBouncer in transaction mode: a tools/call, and a reply crossing instances ----
async function poolerBench(): Promise<void> {
  const directDb = await createTestDatabase('baton_bench_direct');
  const pooledDb = await createTestDatabase('baton_bench_pooled');
  const bouncer = await startPgBouncer();
  const servers: RunningServer[] = [];
  const out: Record<string, unknown> = {};
  try {
    const common = { BATON_TOOLSETS: 'conformance', SESSIONS_STORE: 'database' };
    const started = (server: RunningServer) => {
      servers.push(server);
      return server;
    };
    const [direct, pooled] = await Promise.all([
      startServer({ ...common, DATABASE_URL: directDb.url }).then(started),
      startServer({ ...common, DATABASE_URL: bouncer.rewrite(pooledDb.url) }).then(started),
    ]);
    out.throughput = await loadMatrix(
      `tools/call through PgBouncer (transaction mode, unnamed statements) against direct (medians of ${RUNS} runs, ${SECONDS} s each)`,
      { 'a: baton pg direct': direct.url, 'b: baton pg through PgBouncer': pooled.url },
      [1, 16],
      '2025',
    );

    const rows: (string | number)[][] = [];
    const rounds = 30;
    const setups = {
      direct: { ...common, DATABASE_URL: directDb.url },
      'pooled + direct URL (LISTEN)': { ...common, DATABASE_URL: bouncer.rewrite(pooledDb.url), DATABASE_DIRECT_URL: pooledDb.url },
      'pooled only (polling, 500 ms)': { ...common, DATABASE_URL: bouncer.rewrite(pooledDb.url) },
    };
    for (const [name, env] of Object.entries(setups)) {
      const [a, b] = [started(await startServer(env)), started(await startServer(env))];
      await elicitationRoundTrips(a.url, b.url, 3); // warm-up
      const times = await elicitationRoundTrips(a.url, b.url, rounds);
      rows.push([name, fmt(median(times), 1), fmt(percentile(times, 0.95), 1), fmt(Math.max(...times), 1)]);
      ((out.crossInstanceReply ??= {}) as Record<string, unknown>)[name] = { p50: median(times), p95: percentile(times, 0.95) };
    }
    table(
      `elicitation reply landing on the other instance: client reply sent -> tool result received (${rounds} rounds)`,
      ['database', 'p50 ms', 'p95 ms', 'max ms'],
      rows,
    );
    results.pooler = out;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await bouncer.close();
    await directDb.drop();
    await pooledDb.drop();
  }
}

// ---- (9) takeover: a task's instance stopped, until another instance took the task ----
async function takeoverBench(): Promise<void> {
  const db = await createTestDatabase('baton_bench_takeover');
  const check = new pg.Client({ connectionString: db.url });
  await check.connect();
  const servers: RunningServer[] = [];
  const out: Record<string, unknown> = {};
  const rows: (string | number)[][] = [];
  // A task that may not run again: another instance claims it and fails it, in the same look.
  const createOn = async (server: RunningServer): Promise<string> => {
    const capabilities = { extensions: { 'io.modelcontextprotocol/tasks': {} } };
    const response = await fetch(
      modernRequest(server.url, 'tools/call', {
        name: 'sleep_once',
        arguments: { ms: 60_000 },
        _meta: { 'io.modelcontextprotocol/clientCapabilities': capabilities },
      }),
    );
    const body = (await response.json()) as { result?: { taskId?: string } };
    if (!body.result?.taskId) throw new Error(`no task created: ${JSON.stringify(body)}`);
    return body.result.taskId;
  };
  const failedAfter = async (taskId: string, since: number): Promise<number> => {
    for (;;) {
      const { rows: found } = await check.query('select status from baton.tasks where id = $1', [taskId]);
      if (found[0]?.status === 'failed') return performance.now() - since;
      if (performance.now() - since > 180_000) throw new Error(`task ${taskId} was not taken over within 180 s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const cases = [
    {
      name: 'SIGKILL, lease 2s, takeover_interval 250ms',
      yaml: 'tasks:\n  lease: 2s\n  takeover_interval: 250ms\n',
      signal: 'SIGKILL',
      trials: 5,
    },
    { name: 'SIGKILL, defaults (lease 30s, takeover_interval 5s)', yaml: '', signal: 'SIGKILL', trials: 2 },
    {
      name: 'SIGTERM (drain, released), defaults',
      yaml: 'server:\n  shutdown:\n    pre_shutdown_delay: 0s\n    grace_period: 0s\n',
      signal: 'SIGTERM',
      trials: 3,
    },
  ] as const;
  try {
    for (const c of cases) {
      const env = { SESSIONS_STORE: 'database', DATABASE_URL: db.url, BATON_TOOLSETS: 'diagnostics', BATON_CONFIG_YAML: c.yaml };
      const other = await startServer(env);
      servers.push(other);
      await untilReady(other);
      const times: number[] = [];
      for (let trial = 0; trial < c.trials; trial++) {
        const holder = await startServer(env);
        servers.push(holder);
        await untilReady(holder);
        const taskId = await createOn(holder);
        const stopped = performance.now();
        await holder.stop(c.signal);
        times.push(await failedAfter(taskId, stopped));
      }
      rows.push([c.name, c.trials, fmt(median(times), 0), fmt(Math.min(...times), 0), fmt(Math.max(...times), 0)]);
      out[c.name] = { trials: c.trials, medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
      await other.stop();
    }
    table(
      'task takeover: its instance stopped (pg, two Node processes) -> the task taken and ended by the other (sleep_once: failed, "instance stopped")',
      ['case', 'trials', 'median ms', 'min ms', 'max ms'],
      rows,
    );
    results.takeover = out;
  } finally {
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    await check.end();
    await db.drop();
  }
}

// ---- (8) cleanup at scale (bench/cleanup.ts) ----
async function cleanup(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/cleanup.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    process.stdout.write(chunk);
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  results.cleanup = { exitCode: code, output: out.trim().split('\n').slice(-20) };
}

const plan: [string, () => Promise<void>][] = [
  ['startup', startup],
  ['statements', statements],
  ['tasks', tasksBench],
  ['build', build],
  ['memory', memory],
  ['rows', rowSize],
  ['bundle', bundle],
  ['throughput', throughput],
  ['modern', modern],
  ['adapter', adapter],
  ['channel', channelBench],
  ['pooler', poolerBench],
  ['cleanup', cleanup],
  ['telemetry', telemetry],
  ['takeover', takeoverBench],
];
for (const [name, step] of plan) {
  if (!sections.has(name)) continue;
  console.log(`\n== ${name}`);
  await step();
}
mkdirSync(`${ROOT}bench/results`, { recursive: true });
const file = `${ROOT}bench/results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(results, null, 2));
console.log(`\nwrote ${file}`);
process.exit(0);
