// The runtime-neutral lifecycle parts in isolation: in-flight counting, the cleanup schedule
// (never overlapping, quiet when idle, failures logged and survived), the order of the shutdown
// sequence, waiting for the store at start-up; and the Kubernetes example's timings.
import { describe, expect, it } from 'vitest';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
} from '@opentelemetry/sdk-metrics';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig, parseYaml } from '../src/config/index.js';
import { InFlight } from '../src/lifecycle/in-flight.js';
import { startCleanupSchedule } from '../src/lifecycle/cleanup-schedule.js';
import { shutdown, type ShutdownSteps } from '../src/lifecycle/shutdown.js';
import { waitForStore } from '../src/lifecycle/startup.js';
import { MemorySessionStore } from '../src/store/memory-store.js';
import { createLogger, type LogLevel } from '../src/log.js';
import type { CleanupOptions, CleanupReport, SessionStore } from '../src/store/types.js';
import { sleep, waitFor } from './helpers/wait.js';

function recordingLogger() {
  const lines: { level: LogLevel; msg: string; [key: string]: unknown }[] = [];
  const logger = createLogger('debug', (line) => lines.push(JSON.parse(line)));
  return { logger, lines };
}

/** A store whose cleanup takes `ms` and reports `removed`, counting overlapping runs. */
function slowStore(ms: number, removed: () => number) {
  const stats = { runs: 0, running: 0, maxRunning: 0, signals: [] as (AbortSignal | undefined)[] };
  const store = new MemorySessionStore({ ttlMs: 60_000, idleTimeoutMs: 60_000 });
  store.cleanup = async (options?: CleanupOptions): Promise<CleanupReport> => {
    stats.runs++;
    stats.running++;
    stats.maxRunning = Math.max(stats.maxRunning, stats.running);
    stats.signals.push(options?.signal);
    await sleep(ms);
    stats.running--;
    return { removed: removed(), batches: 1, truncated: false, durationMs: ms };
  };
  return { store, stats };
}

describe('InFlight', () => {
  it('counts exchanges, ignores a second leave, and reports idle or timeout', async () => {
    const inFlight = new InFlight();
    expect(await inFlight.idle(10)).toBe(true);
    const a = inFlight.enter();
    const b = inFlight.enter();
    expect(inFlight.count).toBe(2);
    a();
    a();
    expect(inFlight.count).toBe(1);
    expect(await inFlight.idle(30)).toBe(false);
    // Woken by the last exchange leaving, not by its (far) timeout.
    const idle = inFlight.idle(3_600_000);
    b();
    expect(await idle).toBe(true);
    expect(inFlight.count).toBe(0);
  });
});

describe('cleanup schedule', () => {
  it('runs every interval, never two runs at once, logs removals at info and empty runs at debug', async () => {
    let calls = 0;
    const { store, stats } = slowStore(120, () => (++calls % 2 === 0 ? 3 : 0));
    const { logger, lines } = recordingLogger();
    const schedule = startCleanupSchedule({ store, intervalMs: 40, logger });
    // Runs take three intervals: some ticks find one still going.
    await waitFor(() => stats.runs >= 3 && lines.some((l) => l.msg.startsWith('cleanup skipped')), {
      what: 'three runs and a skipped one',
      intervalMs: 5,
    });
    await schedule.stop();
    expect(stats.runs).toBeGreaterThanOrEqual(3);
    expect(stats.maxRunning).toBe(1);
    const reports = lines.filter((l) => l.msg === 'cleanup');
    expect(reports.length).toBe(stats.runs);
    for (const report of reports) {
      expect(report.level).toBe(report.removed === 0 ? 'debug' : 'info');
      expect(report).toMatchObject({ batches: 1, truncated: false });
      expect(typeof report.durationMs).toBe('number');
    }
    expect(reports.some((r) => r.level === 'info' && r.removed === 3)).toBe(true);
    expect(lines.some((l) => l.msg.startsWith('cleanup skipped'))).toBe(true);
  });

  it('logs a failed run and keeps going', async () => {
    let calls = 0;
    const store = new MemorySessionStore({ ttlMs: 60_000, idleTimeoutMs: 60_000 });
    store.cleanup = async () => {
      if (++calls === 1) throw new Error('database unavailable: connect ECONNREFUSED');
      return { removed: 1, batches: 1, truncated: false, durationMs: 1 };
    };
    const { logger, lines } = recordingLogger();
    const schedule = startCleanupSchedule({ store, intervalMs: 30, logger });
    await waitFor(() => lines.some((l) => l.msg === 'cleanup' && l.removed === 1), {
      what: 'a cleanup that removed one session',
      intervalMs: 5,
    });
    await schedule.stop();
    expect(lines.find((l) => l.msg === 'cleanup failed')).toMatchObject({
      level: 'error',
      error: 'database unavailable: connect ECONNREFUSED',
    });
    expect(lines.some((l) => l.msg === 'cleanup' && l.removed === 1)).toBe(true);
  });

  it('stop() aborts the run in progress through its signal, waits for it, and ends the schedule', async () => {
    const { store, stats } = slowStore(150, () => 0);
    const schedule = startCleanupSchedule({ store, intervalMs: 20, logger: createLogger('error') });
    await waitFor(() => stats.running === 1, { what: 'a cleanup run in progress', intervalMs: 5 });
    await schedule.stop();
    // The run ignores its signal and takes 150 ms: stop() waited for it to end.
    expect(stats.running).toBe(0);
    expect(stats.signals[0]?.aborted).toBe(true);
    const runs = stats.runs;
    await sleep(100);
    expect(stats.runs).toBe(runs);
    expect(await schedule.runNow()).toBeUndefined();
  });
});

describe('shutdown sequence', () => {
  function steps(overrides: Partial<ShutdownSteps> = {}) {
    const order: string[] = [];
    const inFlight = new InFlight();
    const base: ShutdownSteps = {
      preShutdownDelayMs: 50,
      gracePeriodMs: 1_000,
      logger: createLogger('error'),
      inFlight,
      markDraining: () => order.push('draining'),
      stopAccepting: () => order.push('stop accepting'),
      closeConnections: () => order.push('close connections'),
      unfinishedRequests: () => 0,
      stopCleanup: async () => void order.push('stop cleanup'),
      closeStore: async () => void order.push('close store'),
      sleep: async (ms) => {
        order.push(`sleep ${ms}`);
        await sleep(ms);
      },
      ...overrides,
    };
    return { order, inFlight, steps: base };
  }

  it('marks draining, waits the delay, stops accepting, waits for exchanges, then stops cleanup and closes the store', async () => {
    // A grace period no exchange here comes near: only the exchange ending lets the sequence go on.
    const { order, inFlight, steps: plan } = steps({ gracePeriodMs: 3_600_000 });
    const leave = inFlight.enter();
    plan.stopAccepting = () => {
      order.push('stop accepting');
      setTimeout(() => {
        order.push('exchange ended');
        leave();
      }, 100);
    };
    const report = await shutdown(plan, 'SIGTERM');
    expect(order).toEqual(['draining', 'sleep 50', 'stop accepting', 'exchange ended', 'close connections', 'stop cleanup', 'close store']);
    expect(report).toMatchObject({ drained: true, cutOff: 0 });
  });

  it('closes what is left when the grace period ends, and says so', async () => {
    const { logger, lines } = recordingLogger();
    const { order, inFlight, steps: plan } = steps({ gracePeriodMs: 100, logger });
    inFlight.enter();
    const report = await shutdown(plan, 'SIGINT');
    expect(report).toMatchObject({ drained: false, cutOff: 1 });
    expect(order.slice(-3)).toEqual(['close connections', 'stop cleanup', 'close store']);
    expect(lines.find((l) => l.msg.startsWith('grace period over'))).toMatchObject({ level: 'warn', cutOff: 1 });
  });

  it('waits, within the grace period, for a request whose client went away before it was answered', async () => {
    // The request finishes while the sequence is polling for it, at its third look.
    let unfinished = 1;
    let polls = 0;
    const { order, steps: plan } = steps({
      preShutdownDelayMs: 0,
      gracePeriodMs: 3_600_000,
      unfinishedRequests: () => unfinished,
      sleep: async () => {
        if (++polls === 3) unfinished = 0;
      },
    });
    const report = await shutdown(plan, 'SIGTERM');
    expect(polls).toBe(3);
    expect(report.drained).toBe(true);
    expect(order).toEqual(['draining', 'stop accepting', 'close connections', 'stop cleanup', 'close store']);
  });

  it('runs the last step after the store closed; its failure is logged and the shutdown still completes', async () => {
    const { logger, lines } = recordingLogger();
    const { order, steps: plan } = steps({
      preShutdownDelayMs: 0,
      logger,
      onShutdown: async () => {
        order.push('last step');
        throw new Error('collector unreachable');
      },
    });
    const report = await shutdown(plan, 'SIGTERM');
    expect(report.drained).toBe(true);
    expect(order.slice(-2)).toEqual(['close store', 'last step']);
    expect(lines.find((l) => l.msg === 'the last shutdown step failed')).toMatchObject({
      level: 'warn',
      error: expect.stringContaining('collector unreachable'),
    });
  });

  it('records the drain in baton.drain.duration (seconds), by whether it drained', async () => {
    // The OpenTelemetry SDK's own meter provider, read on demand.
    const reader = new PeriodicExportingMetricReader({
      exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
      exportIntervalMillis: 3_600_000,
    });
    const provider = new MeterProvider({ readers: [reader] });
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    try {
      const { inFlight, steps: plan } = steps({ preShutdownDelayMs: 0, gracePeriodMs: 10 });
      inFlight.enter();
      await shutdown(plan, 'SIGTERM');
      const { resourceMetrics } = await reader.collect();
      const drain = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'baton.drain.duration') as
        | HistogramMetricData
        | undefined;
      expect(drain?.descriptor.unit).toBe('s');
      expect(drain?.dataPoints.map((p) => [p.attributes['baton.drain.drained'], p.value.count])).toEqual([[false, 1]]);
    } finally {
      metrics.disable();
      await provider.shutdown();
    }
  });
});

describe('waiting for the store at start-up', () => {
  it('retries a store that is not ready yet, and stops retrying when aborted', async () => {
    let attempts = 0;
    const store = {
      ready: async () => {
        if (++attempts < 3) throw new Error('connect ECONNREFUSED');
      },
    } as unknown as SessionStore;
    const { logger, lines } = recordingLogger();
    expect(await waitForStore(store, { logger, signal: new AbortController().signal, firstRetryMs: 10 })).toBe(true);
    expect(attempts).toBe(3);
    expect(lines.filter((l) => l.msg === 'session store not ready, retrying')).toHaveLength(2);

    const never = { ready: () => Promise.reject(new Error('down')) } as unknown as SessionStore;
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    expect(await waitForStore(never, { logger, signal: abort.signal, firstRetryMs: 10, maxRetryMs: 20 })).toBe(false);
  });

  it('treats a store without ready() as ready', async () => {
    const store = new MemorySessionStore({ ttlMs: 1, idleTimeoutMs: 1 });
    expect(await waitForStore(store, { logger: createLogger('error'), signal: new AbortController().signal })).toBe(true);
  });
});

describe('the Kubernetes example (deploy/kubernetes)', () => {
  const dir = join(import.meta.dirname, '..', 'deploy', 'kubernetes');
  const read = (name: string) => parseAllDocuments(readFileSync(join(dir, name), 'utf8')).map((d) => d.toJS());

  it('mounts a baton.yaml that the server accepts, with shutdown timings that fit the termination grace period', () => {
    const [configMap] = read('configmap.yaml');
    const [deployment] = read('deployment.yaml');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? 'postgres://user:secret@db.example:5432/baton']),
    );
    const config = parseConfig(parseYaml(configMap.data['baton.yaml'], 'baton.yaml'), env);
    expect(config.sessions.store).toBe('database');
    expect(config.database.dsn).toBe('postgres://user:secret@db.example:5432/baton');
    expect(config.server.allowed_hosts).toContain('mcp-baton');

    const { pre_shutdown_delay: delay, grace_period: grace } = config.server.shutdown;
    // Room after delay + grace for closing the database before the kubelet's SIGKILL.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(delay + grace + 10_000);
    // Readiness is probed often enough for the delay to span more than one failed probe.
    expect(container.readinessProbe.periodSeconds * 1000 * container.readinessProbe.failureThreshold).toBeLessThan(delay);
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    expect([container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path]).toEqual(['/readyz', '/healthz']);
    expect(container.env.find((e: { name: string }) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef).toEqual({
      name: 'mcp-baton-database',
      key: 'url',
    });
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === 'config');
    expect(env.BATON_CONFIG).toBe(`${mount.mountPath}/baton.yaml`);
    expect(read('secret.example.yaml')[0].metadata.name).toBe('mcp-baton-database');
    expect(read('service.yaml')[0].spec.selector).toEqual(deployment.spec.selector.matchLabels);
  });
});
