// The client's trace context: a 2026-07-28 request carries it in `_meta` (traceparent, tracestate,
// baggage: SEP-414), and any HTTP request may carry it in its `traceparent` header. `_meta` wins
// when both are there: it names the MCP request itself, the header whatever sent the HTTP request.
// Without an SDK (no propagator registered) nothing is extracted.
import { type Context, context, propagation, type TextMapGetter } from '@opentelemetry/api';

const fromHeaders: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

const fromMeta: TextMapGetter<Record<string, unknown>> = {
  keys: (meta) => Object.keys(meta),
  get: (meta, key) => {
    const value = meta[key];
    return typeof value === 'string' ? value : undefined;
  },
};

export function clientTraceContext(request: Request, meta: unknown): Context {
  const active = context.active();
  if (typeof meta === 'object' && meta !== null && typeof (meta as Record<string, unknown>).traceparent === 'string') {
    return propagation.extract(active, meta as Record<string, unknown>, fromMeta);
  }
  return propagation.extract(active, request.headers, fromHeaders);
}
