// The session-aware handler: the HTTP face of MCP sessions (2025 protocol era). It checks the
// request before any store access, opens the session with one store call, builds a server for
// this request restored to the session's negotiated state, and lets the SDK's web-standard
// transport do the protocol work. Changed session state is merged back before the last response.
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  isJSONRPCRequest,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../tools/define.js';
import { createDispatcher, serveScope, type RequestScope } from '../mcp/server.js';
import { ServerPool, connectServer, type SessionServer } from '../mcp/server-pool.js';
import { RequestTransport } from '../mcp/transport.js';
import type { Registry } from '../mcp/registry.js';
import { readBody } from '../http/body.js';
import { JsonRpcCode, SessionRefusedError, StoreUnavailableError, jsonRpcError, unavailable } from '../http/errors.js';
import { errorText, type Logger } from '../log.js';
import { SessionState } from './state.js';
import type { Negotiated, SessionRecord, SessionStore } from './types.js';
import { isWellFormedSessionId, newSessionId } from './ids.js';

export interface Caller {
  /**
   * Digest of what the session is bound to (the credential, or a JWT's issuer and subject; see
   * src/auth); '' for anonymous callers. Never the credential itself.
   */
  credentialHash: string;
  principal: Principal | undefined;
}

export interface SessionHandlerOptions {
  store: SessionStore;
  registry: Registry;
  maxBodyBytes: number;
  logger: Logger;
}

export type SessionHandler = (request: Request, caller: Caller) => Promise<Response>;

const SESSION_HEADER = 'mcp-session-id';
/** How long an event stream's answer is waited for, to be sent whole (see `exchange`). */
const HOLD_MS = 20;
/** Protocol versions from which JSON-RPC batches are no longer allowed. */
const FIRST_VERSION_WITHOUT_BATCHES = '2025-06-18';

export function createSessionHandler(options: SessionHandlerOptions): SessionHandler {
  const { store, registry, logger } = options;
  const dispatch = createDispatcher(registry);
  const servers = new ServerPool();

  return async function handle(request, caller) {
    const sessionId = request.headers.get(SESSION_HEADER);
    if (sessionId !== null && !isWellFormedSessionId(sessionId)) {
      return jsonRpcError(400, JsonRpcCode.ServerError, 'Bad Request: malformed Mcp-Session-Id header');
    }
    const version = request.headers.get('mcp-protocol-version');
    if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      return jsonRpcError(
        400,
        JsonRpcCode.ServerError,
        `Bad Request: unsupported MCP-Protocol-Version "${version.slice(0, 40)}" (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
      );
    }
    try {
      switch (request.method) {
        case 'POST':
          return await post(request, sessionId, version, caller);
        case 'GET':
          return await get(sessionId, caller);
        case 'DELETE':
          return await remove(sessionId, caller);
        default:
          return jsonRpcError(405, JsonRpcCode.ServerError, 'Method not allowed', { Allow: 'GET, POST, DELETE' });
      }
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        logger.warn('session store unavailable', { error: error.message });
        return unavailable();
      }
      if (error instanceof SessionRefusedError) {
        logger.info('session refused', { status: error.status, reason: error.message });
        return jsonRpcError(error.status, error.code, error.message);
      }
      logger.error('request failed', { error: errorText(error, { stack: true }) });
      return jsonRpcError(500, JsonRpcCode.InternalError, 'Internal error');
    }
  };

  async function post(request: Request, sessionId: string | null, version: string | null, caller: Caller): Promise<Response> {
    const accept = request.headers.get('accept') ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return jsonRpcError(406, JsonRpcCode.ServerError, 'Not Acceptable: Accept must list both application/json and text/event-stream');
    }
    const contentType = request.headers.get('content-type') ?? '';
    if (contentType.split(';')[0]!.trim().toLowerCase() !== 'application/json') {
      return jsonRpcError(415, JsonRpcCode.ServerError, 'Unsupported Media Type: Content-Type must be application/json');
    }
    const body = await readBody(request, options.maxBodyBytes);
    if (!body.ok) {
      // The runtime drops the rest of the body (see discardUnread), so that the client sees this.
      return jsonRpcError(413, JsonRpcCode.ServerError, `Payload Too Large: the body exceeds ${options.maxBodyBytes} bytes`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(body.text);
    } catch {
      return jsonRpcError(400, JsonRpcCode.ParseError, 'Parse error: the body is not valid JSON');
    }
    const batch = Array.isArray(raw);
    const items = batch ? (raw as unknown[]) : [raw];
    if (items.length === 0) return jsonRpcError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: empty batch');
    const messages: JSONRPCMessage[] = [];
    for (const item of items) {
      if (!isJsonRpcMessage(item)) return jsonRpcError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 message');
      messages.push(item);
    }

    // By method, not by shape: a malformed initialize must not reach an existing session's server.
    const initialize = messages.find((m): m is JSONRPCRequest => isJSONRPCRequest(m) && m.method === 'initialize');
    if (initialize) {
      if (messages.length > 1) return jsonRpcError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: initialize must be sent alone');
      return initializeSession(request, initialize, caller);
    }

    if (sessionId === null) return jsonRpcError(400, JsonRpcCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
    // The version header names the negotiated version: a forbidden batch is refused before the
    // store is asked. Without the header, the session's stored version decides below.
    if (batch && version !== null && version >= FIRST_VERSION_WITHOUT_BATCHES) {
      return jsonRpcError(400, JsonRpcCode.InvalidRequest, `Invalid Request: JSON-RPC batches are not allowed in protocol ${version}`);
    }
    const opened = await open(sessionId, caller);
    if (opened instanceof Response) return opened;
    if (batch && opened.protocolVersion >= FIRST_VERSION_WITHOUT_BATCHES) {
      return jsonRpcError(
        400,
        JsonRpcCode.InvalidRequest,
        `Invalid Request: JSON-RPC batches are not allowed in protocol ${opened.protocolVersion}`,
      );
    }

    const rest = RequestTransport.route(sessionId, messages);
    const requests = rest.filter(isJSONRPCRequest);
    if (requests.length === 0) return new Response(null, { status: 202 });
    return serve(request, opened, caller, requests, batch ? rest : rest[0]!);
  }

  async function initializeSession(request: Request, message: JSONRPCRequest, caller: Caller): Promise<Response> {
    const parsed = InitializeRequestSchema.safeParse(message);
    if (!parsed.success) return jsonRpcError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: malformed initialize parameters');
    const { params } = parsed.data;
    const negotiated: Negotiated = {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(params.protocolVersion) ? params.protocolVersion : LATEST_PROTOCOL_VERSION,
      clientCapabilities: params.capabilities,
      clientInfo: params.clientInfo,
    };
    const id = newSessionId();
    // A credential that was presented but not checked (no principal) could be a new one each time.
    const capGroup = caller.credentialHash !== '' && caller.principal === undefined ? 'all' : 'credential';
    await store.create({ id, credentialHash: caller.credentialHash, ...negotiated, state: {}, capGroup });
    logger.info('session created', { session: id.slice(0, 8), client: params.clientInfo.name, protocol: negotiated.protocolVersion });

    // The real initialize goes through this server, which is then as restored as any.
    const entry = await connect(id);
    const response = await exchange(entry, request, new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true }), message, {
      scope: { sessionId: id, session: new SessionState(), principal: caller.principal },
      requestIds: [message.id],
    });
    response.headers.set(SESSION_HEADER, id);
    return response;
  }

  async function serve(
    request: Request,
    session: SessionRecord,
    caller: Caller,
    requests: JSONRPCRequest[],
    body: unknown,
  ): Promise<Response> {
    let entry = servers.take(session.id);
    if (!entry) {
      entry = await connect(session.id);
      await entry.transport.restore({
        method: 'initialize',
        params: { protocolVersion: session.protocolVersion, capabilities: session.clientCapabilities, clientInfo: session.clientInfo },
      });
    }
    const state = new SessionState(session.state);
    return exchange(entry, request, new WebStandardStreamableHTTPServerTransport({}), body, {
      scope: { sessionId: session.id, session: state, principal: caller.principal },
      requestIds: requests.map((r) => r.id),
      beforeLastResponse: async () => {
        const patch = state.takePatch();
        if (patch) await store.update(session.id, patch);
      },
    });
  }

  async function connect(sessionId: string): Promise<SessionServer> {
    const entry = await connectServer(registry.capabilities, sessionId);
    entry.server.onerror = (error) => logger.debug('mcp server error', { session: sessionId.slice(0, 8), error: errorText(error) });
    return entry;
  }

  /**
   * Serves one HTTP request with the session's server through the SDK's HTTP transport. The
   * server goes back to the pool once the request is answered.
   *
   * An event stream that ends with its only event is sent whole: when the answer is ready within
   * HOLD_MS and nothing else was sent before it, the stream's content goes out as one body, which
   * costs one socket write instead of three (headers, event, end). Anything that streams (a
   * progress notification, a log message, an elicitation) or takes longer is streamed as it comes.
   */
  async function exchange(
    entry: SessionServer,
    request: Request,
    inner: WebStandardStreamableHTTPServerTransport,
    body: unknown,
    options: { scope: RequestScope; requestIds: RequestId[]; beforeLastResponse?: () => Promise<void> },
  ): Promise<Response> {
    const { scope, ...rest } = options;
    let answered = false;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    serveScope(entry.server, dispatch, scope);
    await entry.transport.attach(inner, {
      ...rest,
      onStreaming: settle,
      onDone: (reusable) => {
        answered = true;
        settle();
        if (reusable) servers.give(scope.sessionId, entry);
      },
    });
    let response: Response;
    try {
      response = await inner.handleRequest(request, { parsedBody: body });
    } catch (error) {
      // Nothing will answer through this exchange: end it, so that its requests stop counting
      // as in flight, and let the server go rather than pool one in an unknown state.
      await entry.transport.close();
      throw error;
    }
    // Anything but 200 is the HTTP transport refusing the request itself, before any message
    // reached the server.
    if (response.status !== 200) entry.transport.detach();
    if (response.status !== 200 || !response.headers.get('content-type')?.startsWith('text/event-stream')) return response;
    const timer = setTimeout(settle, HOLD_MS);
    await settled;
    clearTimeout(timer);
    if (!answered) return response;
    return new Response(await response.text(), { status: response.status, headers: response.headers });
  }

  async function get(sessionId: string | null, caller: Caller): Promise<Response> {
    if (sessionId === null) return jsonRpcError(400, JsonRpcCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
    const opened = await open(sessionId, caller);
    if (opened instanceof Response) return opened;
    // Server-initiated messages travel on the stream of the request they belong to; a standalone
    // stream would tie a session to one instance, which is what this platform exists to avoid.
    return jsonRpcError(405, JsonRpcCode.ServerError, 'Method Not Allowed: this server sends no standalone event stream', {
      Allow: 'POST, DELETE',
    });
  }

  async function remove(sessionId: string | null, caller: Caller): Promise<Response> {
    if (sessionId === null) return jsonRpcError(400, JsonRpcCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
    const result = await store.remove(sessionId, caller.credentialHash);
    if (result === 'not_found') return notFound();
    if (result === 'forbidden') return forbidden();
    servers.drop(sessionId);
    await RequestTransport.closeSession(sessionId);
    logger.info('session deleted', { session: sessionId.slice(0, 8) });
    return new Response(null, { status: 200 });
  }

  async function open(sessionId: string, caller: Caller): Promise<SessionRecord | Response> {
    const result = await store.open(sessionId, caller.credentialHash);
    if (result.status === 'not_found') return notFound();
    if (result.status === 'forbidden') return forbidden();
    return result.session;
  }
}

/**
 * The JSON-RPC 2.0 message shapes, checked by hand: this runs on every request before the store
 * is asked, and the SDK transport validates the full schema again afterwards anyway.
 */
function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return false;
  const id = m.id;
  const validId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  if (typeof m.method === 'string') {
    if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null || Array.isArray(m.params))) return false;
    return id === undefined || validId;
  }
  if ('result' in m) return validId && typeof m.result === 'object' && m.result !== null;
  if ('error' in m) {
    const error = m.error as Record<string, unknown> | null;
    return (
      (validId || id === undefined || id === null) &&
      typeof error === 'object' &&
      error !== null &&
      typeof error.code === 'number' &&
      typeof error.message === 'string'
    );
  }
  return false;
}

function notFound(): Response {
  return jsonRpcError(404, JsonRpcCode.SessionNotFound, 'Session not found');
}

function forbidden(): Response {
  return jsonRpcError(403, JsonRpcCode.ServerError, 'Forbidden: this session belongs to another credential');
}
