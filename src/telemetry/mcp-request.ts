// One SERVER span and one operation measurement per MCP request, by OpenTelemetry's MCP
// conventions: named `{mcp.method.name} {target}` (the tool's or prompt's name), continuing the
// client's trace, and active while the request runs so that its store statements are its children.
// A streamed answer (text/event-stream) ends the span when its stream ends, not at its headers.
import { type Attributes, context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { instruments, SCOPE } from './instruments.js';
import { RequestScope, withRequestScope } from './request-scope.js';
import { clientTraceContext } from './trace-context.js';

const tracer = trace.getTracer(SCOPE);

interface Message {
  method: string;
  id?: string | number;
  params?: Record<string, unknown>;
}

/** The request (or notification) a body carries; in a batch, the first. A client's reply has none. */
function messageOf(body: unknown): Message | undefined {
  const found = Array.isArray(body) ? body.find((m) => typeof m?.method === 'string') : body;
  return typeof (found as Message | undefined)?.method === 'string' ? (found as Message) : undefined;
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
 * Runs `handle` for the MCP request in `body` inside its span. Bodies without a request (a
 * client's reply to the server) run in the client's trace context, without a span.
 */
export async function observeMcpRequest(request: Request, body: unknown, handle: () => Promise<Response>): Promise<Response> {
  const message = messageOf(body);
  // A client's reply makes no span of its own, but what it leads to (a forward to the instance
  // that waits for it) continues the client's trace.
  if (!message) return context.with(clientTraceContext(request, undefined), handle);
  const started = performance.now();
  const target = targetOf(message);
  const version = protocolVersionOf(request, message);
  // Shortened as the logs shorten it: the id is what a client presents to use the session.
  const sessionId = request.headers.get('mcp-session-id');
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
  const scope = new RequestScope();
  let ended = false;
  const end = (errorType: string | undefined, response?: Response) => {
    if (ended) return;
    ended = true;
    const error = scope.errorType ?? errorType;
    const created = sessionId === null ? response?.headers.get('mcp-session-id') : null;
    if (created) span.setAttribute('mcp.session.id', created.slice(0, 8));
    if (error !== undefined) {
      span.setAttribute('error.type', error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.setAttribute('baton.statements', scope.statements);
    span.end();
    const measured = error === undefined ? metricAttributes : { ...metricAttributes, 'error.type': error };
    const meters = instruments();
    meters.operation.record((performance.now() - started) / 1000, measured);
    meters.statements.record(scope.statements, { 'mcp.method.name': message.method });
  };
  let response: Response;
  try {
    response = await context.with(withRequestScope(trace.setSpan(parent, span), scope), handle);
  } catch (error) {
    end((error as Error)?.constructor?.name ?? 'error');
    throw error;
  }
  const errorType = response.status >= 400 ? String(response.status) : undefined;
  // A stream is followed to its end; an event stream sent whole (with its length) is already there,
  // and reading `body` would turn it into a stream (on Node, chunked writes instead of one).
  const streamed = (response.headers.get('content-type') ?? '').startsWith('text/event-stream') && !response.headers.has('content-length');
  if (streamed && response.body) {
    return endingWithStream(response, () => end(errorType, response));
  }
  end(errorType, response);
  return response;
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

/** Counts an /mcp answer that refused the request (credential, session, size, rate, availability). */
export function countRefusal(response: Response): Response {
  if (REFUSALS.has(response.status)) instruments().refused.add(1, { 'http.response.status_code': response.status });
  return response;
}

const REFUSALS = new Set([401, 403, 404, 413, 429, 503]);
