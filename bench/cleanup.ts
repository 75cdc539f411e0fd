// Cleanup at scale: `tsx bench/cleanup.ts` (also run by `npm run bench`).
//   --expired N   sessions past their limits (default 1,000,000: half past the lifetime, half idle)
//   --live N      sessions within their limits (default 100,000), interleaved with the expired ones
// Fills a fresh database with generate_series, runs the store's cleanup routine with its default
// batch size and budget (again while a run stops at the budget, as the next cron tick would), and
// prints time per batch, total time and rows/s; then checks that every live session is still there.
// Prints a table and writes bench/results/cleanup-<timestamp>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createTestDatabase } from '../test/helpers/db.js';
import { ROOT } from '../test/helpers/server.js';
import { openPg } from '../src/store/db/drivers/pg.js';
import { DatabaseSessionStore } from '../src/store/database-store.js';
import type { CleanupBatch, CleanupReport } from '../src/store/types.js';

const { values: args } = parseArgs({
  options: { expired: { type: 'string', default: '1000000' }, live: { type: 'string', default: '100000' } },
});
const EXPIRED = Number(args.expired);
const LIVE = Number(args.live);
const LIMITS = { ttlMs: 30 * 60_000, idleTimeoutMs: 30 * 60_000 };

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const ms = (n: number) => `${n.toFixed(1)} ms`;
const count = (n: number) => n.toLocaleString('en-US');
const progress = (line: string) => process.stderr.write(`${line}\n`);

function printTable(rows: [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) console.log(`${key.padEnd(width)}  ${value}`);
}

const db = await createTestDatabase('baton_bench_cleanup');
const admin = new pg.Client({ connectionString: db.url });
const store = new DatabaseSessionStore(openPg({ dsn: db.url, statementTimeoutMs: 120_000 }), LIMITS);
try {
  await admin.connect();
  await store.ready();
  const {
    rows: [server],
  } = await admin.query<{ server_version: string }>('show server_version');

  // Live rows are spread evenly (every eleventh row by default), so live and expired rows share
  // pages as they do in production. Expired rows are half past their lifetime, half idle with
  // lifetime left.
  const total = EXPIRED + LIVE;
  const step = Math.max(1, Math.floor(total / Math.max(LIVE, 1)));
  progress(`inserting ${count(EXPIRED)} expired and ${count(LIVE)} live sessions ...`);
  const insertStarted = performance.now();
  await admin.query(
    `insert into baton.sessions (id, credential_hash, created_at, last_active_at, expires_at, protocol_version, client_capabilities, client_info, state)
     select case when live then 'live-' else 'dead-' end || md5(g::text) || lpad(g::text, 8, '0'),
            case when g % 3 = 0 then md5('credential' || g) else '' end,
            now() - interval '40 minutes',
            case when live then now() - (g % 600) * interval '1 second'
                 when g % 2 = 0 then now() - interval '35 minutes' - (g % 3600) * interval '1 second'
                 else now() - interval '5 minutes' end,
            case when live or g % 2 = 0 then now() + interval '20 minutes'
                 else now() - (g % 3600) * interval '1 second' end,
            '2025-11-25',
            '{"elicitation":{},"sampling":{}}'::jsonb,
            '{"name":"bench-client","version":"1.0.0"}'::jsonb,
            '{"mcp.logLevel":"info"}'::jsonb
     from (select g, ($2::int > 0 and g % $3::int = 0 and g / $3::int <= $2::int) as live from generate_series(1, $1::int) g) s`,
    [total, LIVE, step],
  );
  const {
    rows: [split],
  } = await admin.query<{ live: number; dead: number }>(
    `select count(*) filter (where id like 'live-%')::int as live, count(*) filter (where id like 'dead-%')::int as dead from baton.sessions`,
  );
  await admin.query('analyze baton.sessions');
  const insertMs = performance.now() - insertStarted;
  progress(`inserted in ${(insertMs / 1000).toFixed(1)} s (${count(split!.live)} live, ${count(split!.dead)} expired)`);

  const batches: CleanupBatch[] = [];
  const runs: CleanupReport[] = [];
  const cleanupStarted = performance.now();
  for (;;) {
    const report = await store.cleanup({
      onBatch: (batch) => {
        batches.push(batch);
        if (batches.length % 20 === 0) progress(`batch ${batches.length}: ${count(batch.removed)} in ${ms(batch.durationMs)}`);
      },
    });
    runs.push(report);
    if (!report.truncated) break;
  }
  const cleanupMs = performance.now() - cleanupStarted;
  const removed = runs.reduce((sum, r) => sum + r.removed, 0);

  // With nothing left to delete, a run should cost next to nothing however many live rows remain.
  // Right after the mass delete the planner's statistics still say most rows match (it scans the
  // table); autovacuum's ANALYZE corrects that (index scans on both deadlines).
  const idleRun = await store.cleanup();
  await admin.query('vacuum analyze baton.sessions');
  const idleRunAnalyzed = await store.cleanup();
  // Steady state: a few thousand sessions ended since the last run, among the live ones.
  const STEADY = 5_000;
  await admin.query(
    `insert into baton.sessions (id, created_at, last_active_at, expires_at, protocol_version, client_capabilities, client_info)
     select 'ended-' || g, now() - interval '40 minutes', now() - interval '31 minutes', now() + interval '1 minute', '2025-11-25', '{}', '{}'
     from generate_series(1, $1::int) g`,
    [STEADY],
  );
  await admin.query('analyze baton.sessions');
  const steadyRun = await store.cleanup();

  const {
    rows: [after],
  } = await admin.query<{ live: number; dead: number; total: number }>(
    `select count(*) filter (where id like 'live-%')::int as live, count(*) filter (where id like 'dead-%')::int as dead, count(*)::int as total from baton.sessions`,
  );
  const liveIntact = after!.live === split!.live && after!.dead === 0 && after!.total === split!.live && steadyRun.removed === STEADY;

  // Full batches only: the last one is partial by definition.
  const full = batches.filter((b) => b.removed === batches[0]!.removed);
  const times = full.map((b) => b.durationMs).sort((a, b) => a - b);
  const result = {
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      postgres: server!.server_version,
    },
    startedAt: new Date().toISOString(),
    rows: { expired: split!.dead, live: split!.live },
    insertMs: Math.round(insertMs),
    cleanup: {
      runs: runs.length,
      runDurationsMs: runs.map((r) => Math.round(r.durationMs)),
      truncatedRuns: runs.filter((r) => r.truncated).length,
      removed,
      batches: batches.length,
      batchSize: batches[0]?.removed ?? 0,
      batchMs: { min: times[0], median: quantile(times, 0.5), p95: quantile(times, 0.95), max: times[times.length - 1] },
      firstBatchesMs: batches.slice(0, 3).map((b) => Math.round(b.durationMs)),
      lastBatchesMs: batches.slice(-3).map((b) => Math.round(b.durationMs)),
      totalMs: Math.round(cleanupMs),
      rowsPerSecond: Math.round(removed / (cleanupMs / 1000)),
      emptyRunMs: Number(idleRun.durationMs.toFixed(2)),
      emptyRunAfterAnalyzeMs: Number(idleRunAnalyzed.durationMs.toFixed(2)),
      steadyState: {
        expired: STEADY,
        removed: steadyRun.removed,
        batches: steadyRun.batches,
        durationMs: Number(steadyRun.durationMs.toFixed(2)),
      },
    },
    after: { ...after!, liveIntact },
  };

  console.log(
    `\nCleanup at scale (${count(split!.dead)} expired + ${count(split!.live)} live sessions, PostgreSQL ${server!.server_version})`,
  );
  printTable([
    ['insert (generate_series) + analyze', `${(insertMs / 1000).toFixed(1)} s`],
    ['cleanup runs (20 s budget each)', `${runs.length} (${result.cleanup.truncatedRuns} stopped at the budget)`],
    ['batches', `${batches.length} of ${count(result.cleanup.batchSize)} rows`],
    ['time per batch: min / median / max', `${ms(times[0]!)} / ${ms(quantile(times, 0.5))} / ${ms(times[times.length - 1]!)}`],
    ['time per batch: p95', ms(quantile(times, 0.95))],
    ['first 3 / last 3 batches', `${result.cleanup.firstBatchesMs.join(', ')} / ${result.cleanup.lastBatchesMs.join(', ')} ms`],
    ['total cleanup time', `${(cleanupMs / 1000).toFixed(2)} s`],
    ['rows removed', count(removed)],
    ['rows/s', count(result.cleanup.rowsPerSecond)],
    ['run with nothing to remove (stale stats)', ms(idleRun.durationMs)],
    ['same after VACUUM ANALYZE', ms(idleRunAnalyzed.durationMs)],
    [
      `steady state: ${count(STEADY)} ended among the live`,
      `${count(steadyRun.removed)} removed in ${steadyRun.batches} batch(es), ${ms(steadyRun.durationMs)}`,
    ],
    [
      'live sessions after',
      `${count(after!.live)} of ${count(split!.live)}, expired left ${count(after!.dead)}: ${liveIntact ? 'all live sessions intact' : 'MISMATCH'}`,
    ],
  ]);

  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `cleanup-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${file}`);
  if (!liveIntact) process.exitCode = 1;
} finally {
  await admin.end().catch(() => {});
  await store.close();
  await db.drop();
}
