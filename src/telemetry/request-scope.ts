// What the telemetry of one MCP request gathers while it runs (statements, a tool's error), kept
// in the request's OpenTelemetry context so that the database layer and the calls add to it
// without being handed anything. Only a context manager (an SDK's) carries it across awaits;
// without one nothing is gathered, and nothing is recorded either.
import { type Context, context, createContextKey } from '@opentelemetry/api';

export class RequestScope {
  statements = 0;
  /** The MCP conventions' error.type when the answer is an error the HTTP status does not show. */
  errorType: string | undefined;
  /** error.type by JSON-RPC id, from the answers themselves (a batch's requests each have their own). */
  readonly answers = new Map<string, string | undefined>();
}

const KEY = createContextKey('mcp-baton request scope');

export function withRequestScope(parent: Context, scope: RequestScope): Context {
  return parent.setValue(KEY, scope);
}

/** `parent` without its request scope: work that outlives the request (a task's run) counts for itself. */
export function withoutRequestScope(parent: Context): Context {
  return parent.deleteValue(KEY);
}

export function currentRequestScope(): RequestScope | undefined {
  return context.active().getValue(KEY) as RequestScope | undefined;
}

/** The error.type an answer shows: its JSON-RPC error's code, or `tool_error` for a tool result with isError. */
export function errorTypeOf(answer: { error?: { code?: unknown }; result?: unknown }): string | undefined {
  if (answer.error !== undefined) return String(answer.error?.code ?? 'error');
  return (answer.result as { isError?: unknown } | undefined)?.isError === true ? 'tool_error' : undefined;
}

/** The server answered request `id` of the current MCP request with `answer` (the 2025 exchange router tells). */
export function noteAnswer(id: string | number, answer: { error?: { code?: unknown }; result?: unknown }): void {
  currentRequestScope()?.answers.set(String(id), errorTypeOf(answer));
}

/**
 * The request's answer is an error inside a 200: `tool_error` for a tool result with isError, a
 * JSON-RPC error's code otherwise. Its span and operation metric carry it as error.type.
 */
export function noteErrorType(type: string): void {
  const scope = currentRequestScope();
  if (scope) scope.errorType ??= type;
}
