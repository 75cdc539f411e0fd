// mcp-baton on Workers with its spans exported: otel-cf-workers' `instrument` wraps the Worker's
// handlers, registers a tracer provider and a context manager for each request, and sends the
// spans over OTLP/HTTP once the request (and what it handed to waitUntil) is done. mcp-baton's
// spans (`tools/call <tool>`, the store statements) are made on @opentelemetry/api and nest under
// the request span it makes. The settings use the standard OTEL_* names, as on Node.
import { instrument, type ResolveConfigFn } from '@pydantic/otel-cf-workers';
import { createWorker } from 'mcp-baton/worker';

interface Env {
  OTEL_EXPORTER_OTLP_ENDPOINT: string;
  /** Optional: headers for the collector, `name=value` pairs separated by commas (an API key). */
  OTEL_EXPORTER_OTLP_HEADERS?: string;
  OTEL_SERVICE_NAME?: string;
}

function headersOf(list: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (list ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at > 0) headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

const config: ResolveConfigFn<Env> = (env) => ({
  exporter: {
    url: `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`,
    headers: headersOf(env.OTEL_EXPORTER_OTLP_HEADERS),
  },
  service: { name: env.OTEL_SERVICE_NAME ?? 'mcp-baton' },
});

// Settings and toolsets as in any mcp-baton Worker (the bindings, BATON_CONFIG_YAML, createWorker's options).
export default instrument(createWorker(), config);
