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

/** A trace context as W3C fields (traceparent, tracestate, baggage): what `_meta` and channel messages carry. */
export type TraceCarrier = Record<string, string>;

/** The active trace context as W3C fields; undefined without an SDK or a span. */
export function traceCarrier(): TraceCarrier | undefined {
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** The context a carrier names, from any object (its string fields only): a message from another instance is not trusted to be well formed. */
export function traceContextOf(carrier: unknown): Context {
  const active = context.active();
  return typeof carrier === 'object' && carrier !== null
    ? propagation.extract(active, carrier as Record<string, unknown>, fromMeta)
    : active;
}

export function clientTraceContext(request: Request, meta: unknown): Context {
  const active = context.active();
  if (typeof meta === 'object' && meta !== null && typeof (meta as Record<string, unknown>).traceparent === 'string') {
    return propagation.extract(active, meta as Record<string, unknown>, fromMeta);
  }
  return propagation.extract(active, request.headers, fromHeaders);
}
