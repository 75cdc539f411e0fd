// The trace of a call that asks its client for input (elicitation, sampling, roots) follows the
// question out and its answer back, across instances:
// - the server-to-client request carries the call's trace context in `params._meta` (traceparent,
//   tracestate, baggage), so an instrumented client answers inside the same trace;
// - an instance that receives a reply meant for another one forwards it in a PRODUCER span
//   (`baton.reply.forward`, its channel statement a child), and the message carries that span's
//   context;
// - the instance that delivers the reply makes a CONSUMER span (`baton.reply.deliver`) under the
//   waiting call's span, linked to the forward, so one trace shows where the answer came from.
import { type Attributes, context, type Link, SpanKind, trace } from '@opentelemetry/api';
import { SCOPE } from './instruments.js';
import { type TraceCarrier, traceCarrier, traceContextOf } from './trace-context.js';

const tracer = trace.getTracer(SCOPE);

/** The request with the active trace context added to its `params._meta` (a key already there wins). */
export function withTraceMeta<T extends { params?: { [key: string]: unknown } }>(request: T, carrier: TraceCarrier | undefined): T {
  if (!carrier) return request;
  const meta = request.params?._meta;
  return { ...request, params: { ...request.params, _meta: { ...carrier, ...(typeof meta === 'object' && meta) } } };
}

/**
 * Runs `publish` in a PRODUCER span under the active context (the reply's HTTP request, continuing
 * the client's traceparent header when it sent one); `publish` gets the span's context to send.
 */
export async function observeReplyForward<T>(
  attributes: Attributes,
  publish: (carrier: TraceCarrier | undefined) => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan('baton.reply.forward', {
    kind: SpanKind.PRODUCER,
    attributes: { 'messaging.operation.type': 'send', ...attributes },
  });
  try {
    return await context.with(trace.setSpan(context.active(), span), () => publish(traceCarrier()));
  } finally {
    span.end();
  }
}

/**
 * Runs `deliver` in a CONSUMER span whose parent is the waiting call (`waiting`, the context its
 * request went out with) and which links to the forward (`forwardedFrom`, from the channel's
 * message) or, delivered where it arrived, to the reply's own request.
 */
export function observeReplyDelivery<T>(
  waiting: TraceCarrier | undefined,
  forwardedFrom: TraceCarrier | undefined,
  attributes: Attributes,
  deliver: () => T,
): T {
  const from = trace.getSpanContext(forwardedFrom ? traceContextOf(forwardedFrom) : context.active());
  const links: Link[] = from && trace.isSpanContextValid(from) ? [{ context: from }] : [];
  const span = tracer.startSpan(
    'baton.reply.deliver',
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: { 'messaging.operation.type': 'process', 'baton.reply.forwarded': forwardedFrom !== undefined, ...attributes },
    },
    waiting ? traceContextOf(waiting) : context.active(),
  );
  try {
    return context.with(trace.setSpan(context.active(), span), deliver);
  } finally {
    span.end();
  }
}
