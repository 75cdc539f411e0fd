// OpenTelemetry for the Node server (`npm start`), installed only when the environment asks for
// it, so that a server without it loads none of the SDK:
// - traces: the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT or
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_TRACES_EXPORTER other than none; then
//   OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, OTEL_BSP_*, ... as the SDK reads them);
// - metrics: Prometheus text at /metrics on BATON_METRICS_PORT (BATON_METRICS_HOST, default every
//   address), a listener of its own, never the public port.
// OTEL_SDK_DISABLED=true turns both off. See docs/observability.md.
import { createServer, type Server } from 'node:http';
import { ConfigError } from '../config/errors.js';
import type { Logger } from '../log.js';
import { SECONDS_INSTRUMENTS } from '../telemetry/instruments.js';

export interface NodeTelemetry {
  /** The /metrics listener's port, when metrics are on. */
  readonly metricsPort: number | undefined;
  /** Sends what is buffered and stops (after the server's drain). */
  shutdown(): Promise<void>;
}

type Env = Record<string, string | undefined>;

const set = (value: string | undefined) => value !== undefined && value.trim() !== '';

export function wantsTracing(env: Env): boolean {
  const exporters = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporters === 'none') return false;
  return set(exporters) || set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** BATON_METRICS_PORT: unset, or a port (0 picks a free one). */
export function metricsPort(env: Env): number | undefined {
  const value = env.BATON_METRICS_PORT;
  if (!set(value)) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError('environment', [
      { path: 'BATON_METRICS_PORT (environment)', message: `expected a port number (0 to 65535), got ${JSON.stringify(value)}` },
    ]);
  }
  return port;
}

/** Installs the SDK when asked; undefined when nothing was asked (nothing loaded). */
export async function startNodeTelemetry(env: Env, logger: Logger): Promise<NodeTelemetry | undefined> {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const tracing = wantsTracing(env);
  const port = metricsPort(env);
  if (!tracing && port === undefined) return undefined;
  const [{ NodeSDK }, { PrometheusExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-prometheus'),
  ]);
  const prometheus = port === undefined ? undefined : new PrometheusExporter({ preventServerStart: true });
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME?.trim() || 'mcp-baton',
    // Traces from the environment when asked; otherwise none (the SDK's default would be OTLP).
    ...(!tracing && { spanProcessors: [] }),
    metricReaders: prometheus ? [prometheus] : [],
    // This exporter adds no unit suffix of its own; scrapers and dashboards expect `_seconds`.
    views: SECONDS_INSTRUMENTS.map((name) => ({ instrumentName: name, name: `${name}_seconds` })),
    // Logs stay JSON lines on stdout, carrying the trace and span ids (src/log.ts).
    logRecordProcessors: [],
  });
  sdk.start();
  let server: Server | undefined;
  if (prometheus && port !== undefined) {
    const host = env.BATON_METRICS_HOST?.trim() || '0.0.0.0';
    server = createServer((request, response) => {
      if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') prometheus.getMetricsRequestHandler(request, response);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (error) => reject(new Error(`cannot serve metrics on ${host}:${port} (BATON_METRICS_PORT): ${error.message}`)));
      server!.listen(port, host, resolve);
    });
  }
  const address = server?.address();
  const listening = typeof address === 'object' && address ? address.port : undefined;
  logger.info('telemetry', { traces: tracing, ...(listening !== undefined && { metricsPort: listening }) });
  return {
    metricsPort: listening,
    async shutdown() {
      server?.close();
      await sdk.shutdown();
    },
  };
}
