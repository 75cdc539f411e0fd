// One SERVER span and one operation measurement per MCP request, by OpenTelemetry's MCP
// conventions: named `{mcp.method.name} {target}` (the tool's or prompt's name), continuing the
// client's trace, and active while the request runs so that its store statements are its children.
// A streamed answer (text/event-stream) ends the span when its stream ends, not at its headers.
import { type Attributes, type Context, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { instruments, SCOPE } from './instruments.js';
import { errorTypeOf, RequestScope, withRequestScope } from './request-scope.js';
import { clientTraceContext } from './trace-context.js';
import { isWholeEventStream } from '../http/sse.js';

const tracer = trace.getTracer(SCOPE);

interface Message {
  method: string;
  id?: string | number;
  params?: Record<string, unknown>;
}

/** The requests and notifications a body carries (a batch's, in order). A client's reply has none. */
function messagesOf(body: unknown): Message[] {
  const all = Array.isArray(body) ? body : [body];
  return all.filter((m): m is Message => typeof (m as Message | undefined)?.method === 'string');
}

/** The target of the span's name and gen_ai attributes: a tool's or a prompt's name. */
function targetOf(message: Message): { name?: string; attributes: Attributes } {
  const name = message.params?.name;
  if (typeof name !== 'string') {
    const uri = message.params?.uri;
    return { attributes: typeof uri === 'string' && message.method.startsWith('resources/') ? { 'mcp.resource.uri': uri } : {} };
  }
  if (message.method === 'tools/call') return { name, attributes: { 'gen_ai.tool.name': name, 'gen_ai.operation.name': 'execute_tool' } };
  if (message.method === 'prompts/get') return { name, attributes: { 'gen_ai.prompt.name': name } };
  return { attributes: {} };
}

function protocolVersionOf(request: Request, message: Message): string | undefined {
  const header = request.headers.get('mcp-protocol-version');
  if (header) return header;
  const version = message.params?.protocolVersion;
  return typeof version === 'string' ? version : undefined;
}

/**
 * Runs `handle` for the MCP request in `body` inside its span: one span per request or notification
 * the body carries (a JSON-RPC batch makes several, each with its own id and error.type; the
 * first is the active one, under which the batch's store statements appear). Bodies without a
 * request (a client's reply to the server) run in the client's trace context, without a span.
 */
export async function observeMcpRequest(request: Request, body: unknown, handle: () => Promise<Response>): Promise<Response> {
  const messages = messagesOf(body);
  // A client's reply makes no span of its own, but what it leads to (a forward to the instance
  // that waits for it) continues the client's trace.
  if (messages.length === 0) return context.with(clientTraceContext(request, undefined), handle);
  const started = performance.now();
  // Shortened as the logs shorten it: the id is what a client presents to use the session.
  const sessionId = request.headers.get('mcp-session-id');
  const observed = messages.map((message) => start(request, message, sessionId));
  const batch = observed.length > 1;
  const first = observed[0]!;
  const scope = new RequestScope();
  const active = withRequestScope(trace.setSpan(first.parent, first.span), scope);
  // A context manager (an SDK's) carries the scope across awaits; without one nothing is gathered.
  const gathering = context.with(active, () => context.active() === active);
  let ended = false;
  const end = (errorType: string | undefined, response?: Response) => {
    if (ended) return;
    ended = true;
    const created = sessionId === null ? response?.headers.get('mcp-session-id') : null;
    const meters = instruments();
    const seconds = (performance.now() - started) / 1000;
    for (const { message, span, metricAttributes } of observed) {
      const answered = message.id === undefined ? undefined : scope.answers.get(String(message.id));
      // An answer's own error first; the request-wide note only for a lone request; then the HTTP status.
      const error = answered ?? (batch ? undefined : scope.errorType) ?? errorType;
      if (created) span.setAttribute('mcp.session.id', created.slice(0, 8));
      if (error !== undefined) {
        span.setAttribute('error.type', error);
        if (/^-?\d+$/.test(error) && !HTTP_STATUS.test(error)) span.setAttribute('rpc.response.status_code', error);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.setAttribute('baton.statements', scope.statements);
      span.end();
      meters.operation.record(seconds, error === undefined ? metricAttributes : { ...metricAttributes, 'error.type': error });
    }
    meters.statements.record(scope.statements, { 'mcp.method.name': first.message.method });
  };
  let response: Response;
  try {
    response = await context.with(active, handle);
  } catch (error) {
    end((error as Error)?.constructor?.name ?? 'error');
    throw error;
  }
  const errorType = response.status >= 400 ? String(response.status) : undefined;
  // A stream is followed to its end; an event stream sent whole (with its length) is already there,
  // and reading `body` would turn it into a stream (on Node, chunked writes instead of one).
  if (!isWholeEventStream(response)) {
    const contentType = response.headers.get('content-type') ?? '';
    const whole = !contentType.startsWith('text/event-stream') || response.headers.has('content-length');
    if (!whole && response.body) return endingWithStream(response, () => end(errorType, response));
  }
  // Answers nobody noted on their way out (the 2026-07-28 leg's): read from the whole body, only
  // while telemetry gathers, so that a server without an SDK reads nothing twice.
  if (gathering && response.status === 200 && response.body && observed.some((o) => needsAnswer(o.message, scope))) {
    const contentType = response.headers.get('content-type') ?? '';
    for (const [id, type] of answersIn(await response.clone().text(), contentType)) if (!scope.answers.has(id)) scope.answers.set(id, type);
  }
  end(errorType, response);
  return response;
}

/** An HTTP status as error.type (a refused request), not a JSON-RPC error code. */
const HTTP_STATUS = /^[1-5]\d\d$/;

interface Observed {
  message: Message;
  span: Span;
  parent: Context;
  metricAttributes: Attributes;
}

/** Starts the span of one message, continuing the client's trace. */
function start(request: Request, message: Message, sessionId: string | null): Observed {
  const target = targetOf(message);
  const version = protocolVersionOf(request, message);
  const metricAttributes: Attributes = {
    'mcp.method.name': message.method,
    ...(version !== undefined && { 'mcp.protocol.version': version }),
    ...(message.method === 'tools/call' && target.name !== undefined && { 'gen_ai.tool.name': target.name }),
  };
  const parent = clientTraceContext(request, message.params?._meta);
  const span = tracer.startSpan(
    target.name === undefined ? message.method : `${message.method} ${target.name}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        ...metricAttributes,
        ...target.attributes,
        ...(message.id !== undefined && { 'jsonrpc.request.id': String(message.id) }),
        ...(sessionId !== null && { 'mcp.session.id': sessionId.slice(0, 8) }),
        'network.transport': 'tcp',
        'network.protocol.name': 'http',
      },
    },
    parent,
  );
  return { message, span, parent, metricAttributes };
}

const needsAnswer = (message: Message, scope: RequestScope) => message.id !== undefined && !scope.answers.has(String(message.id));

/** error.type by id from a whole answer body: JSON (one message or a batch) or an event stream's data lines. */
function answersIn(text: string, contentType: string): Map<string, string | undefined> {
  const found = new Map<string, string | undefined>();
  const add = (value: unknown) => {
    for (const answer of Array.isArray(value) ? value : [value]) {
      const id = (answer as { id?: unknown } | null)?.id;
      if (typeof id === 'string' || typeof id === 'number') found.set(String(id), errorTypeOf(answer));
    }
  };
  try {
    if (contentType.startsWith('text/event-stream')) {
      for (const line of text.split('\n')) if (line.startsWith('data:') && line.length > 5) add(JSON.parse(line.slice(5)));
    } else if (text !== '') add(JSON.parse(text));
  } catch {
    // Not JSON after all: the answer says nothing more than its status.
  }
  return found;
}

/** The same response, whose body calls `end` once it has been read to its end, failed or been cancelled. */
function endingWithStream(response: Response, end: () => void): Response {
  const reader = response.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          end();
        } else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
        end();
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
