// Store statements as child spans of the request that runs them (OpenTelemetry's database
// conventions: db.system.name postgresql, the operation, never a parameter's value), counted
// per request and timed by driver. A statement outside any traced request (the cleanup, the
// channel's polling, a metrics scrape) makes no span: it would be a trace of its own per poll.
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { instruments, SCOPE } from './instruments.js';
import { currentRequestScope } from './request-scope.js';

const tracer = trace.getTracer(SCOPE);

export interface StatementView {
  /** The driver that runs it (pg, neon-http, pglite). */
  driver: string;
  /** The statement's name when the store gives one (the request path's statements). */
  name?: string;
  /** Its text with placeholders, computed only when a span records it. */
  text: () => string;
}

export async function observeStatement<T>(statement: StatementView, run: () => Promise<T>): Promise<T> {
  const scope = currentRequestScope();
  if (scope) scope.statements++;
  const parent = trace.getActiveSpan();
  const span = parent?.isRecording() ? startSpan(statement) : undefined;
  const started = performance.now();
  let errorType: string | undefined;
  try {
    return await run();
  } catch (error) {
    errorType = (error as { code?: unknown }).code?.toString() ?? (error as Error).constructor?.name ?? 'error';
    span?.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    const attributes = {
      'db.system.name': 'postgresql',
      'baton.db.driver': statement.driver,
      ...(errorType !== undefined && { 'error.type': errorType }),
    };
    instruments().statementDuration.record((performance.now() - started) / 1000, attributes);
    if (span) {
      if (errorType !== undefined) span.setAttribute('error.type', errorType);
      span.end();
    }
  }
}

function startSpan(statement: StatementView) {
  const text = statement.text();
  const operation = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
  const summary = statement.name ?? operation;
  return tracer.startSpan(summary, {
    kind: SpanKind.CLIENT,
    attributes: {
      'db.system.name': 'postgresql',
      'db.operation.name': operation,
      // The text has placeholders ($1, $2, ...) where the values go: no parameter leaves.
      'db.query.text': text,
      ...(statement.name !== undefined && { 'db.query.summary': statement.name }),
      'baton.db.driver': statement.driver,
    },
  });
}
