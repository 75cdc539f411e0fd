// The session-aware handler: the HTTP face of MCP sessions (2025 protocol era). It checks the
// request before any store access, opens the session with one store call, and hands the rest to
// the platform's Instance (src/era-2025/instance.ts): replies and cancels to the work they
// belong to, requests to a server restored to the session, whose changed state is stored before
// the answer leaves.
import type { WaitUntil } from '../core/task-runner.js';
import { isJsonContentType } from '@modelcontextprotocol/server';
import {
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type JSONRPCRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { type JsonBody, readJsonBody, unreadableBody } from '../http/body.js';
import { JsonRpcCode, jsonRpcError, unavailable } from '../http/errors.js';
import { SessionRefusedError, StoreUnavailableError } from '../store/errors.js';
import { errorText, type Logger } from '../log.js';
import type { Caller } from '../auth/caller.js';
import type { Instance, Opened } from './instance.js';
import type { Negotiated, SessionStore } from '../store/types.js';
import { isWellFormedSessionId } from './ids.js';
import { decodeCursor } from './cursor.js';
import { refusedBecause } from '../telemetry/refusals.js';
import { isRequest } from './exchange.js';

export interface SessionHandlerOptions {
  store: SessionStore;
  instance: Instance;
  maxBodyBytes: number;
  logger: Logger;
}

/** Serves one request of the 2025 era; `body` is the POST body when the caller already read it. */
/** `waitUntil` is the runtime's, where it lends one (Workers): a task a request starts runs on under it. */
export type SessionHandler = (request: Request, caller: Caller, body?: JsonBody, waitUntil?: WaitUntil) => Promise<Response>;

const SESSION_HEADER = 'mcp-session-id';
/** Protocol versions from which JSON-RPC batches are no longer allowed. */
const FIRST_VERSION_WITHOUT_BATCHES = '2025-06-18';

export function createSessionHandler(options: SessionHandlerOptions): SessionHandler {
  const { store, instance, logger } = options;

  return async function handle(request, caller, body, waitUntil) {
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
          return await post(request, sessionId, version, caller, body, waitUntil);
        case 'GET':
          return await get(request, sessionId, caller);
        case 'DELETE':
          return await remove(sessionId, caller);
        default:
          return jsonRpcError(405, JsonRpcCode.ServerError, 'Method not allowed', { Allow: 'GET, POST, DELETE' });
      }
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        logger.warn('session store unavailable', { error: error.message });
        return unavailable(error.publicMessage);
      }
      if (error instanceof SessionRefusedError) {
        logger.info('session refused', { status: error.status, reason: error.message });
        return refusedBecause('session_limit', jsonRpcError(error.status, error.code, error.message));
      }
      logger.error('request failed', { error: errorText(error, { stack: true }) });
      return jsonRpcError(500, JsonRpcCode.InternalError, 'Internal error');
    }
  };

  async function post(
    request: Request,
    sessionId: string | null,
    version: string | null,
    caller: Caller,
    read?: JsonBody,
    waitUntil?: WaitUntil,
  ): Promise<Response> {
    const accept = request.headers.get('accept') ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return jsonRpcError(406, JsonRpcCode.ServerError, 'Not Acceptable: Accept must list both application/json and text/event-stream');
    }
    if (!isJsonContentType(request.headers.get('content-type'))) {
      return jsonRpcError(415, JsonRpcCode.ServerError, 'Unsupported Media Type: Content-Type must be application/json');
    }
    const body = read ?? (await readJsonBody(request, options.maxBodyBytes));
    // The runtime drops what is left of an oversized body (see discardUnread), so that the client sees this.
    if (body.kind !== 'json') return unreadableBody(body, options.maxBodyBytes);
    const raw = body.value;
    const batch = Array.isArray(raw);
    const items = batch ? (raw as unknown[]) : [raw];
    if (items.length === 0) return jsonRpcError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: empty batch');
    const messages: JSONRPCMessage[] = [];
    for (const item of items) {
      if (!isJsonRpcMessage(item)) return jsonRpcError(400, JsonRpcCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 message');
      messages.push(item);
    }

    // By method, not by shape: a malformed initialize must not reach an existing session's server.
    const initialize = messages.find((m): m is JSONRPCRequest => isRequest(m) && m.method === 'initialize');
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
    // Requests are listened for before the store is asked, so that a cancel sent right after
    // one reaches it even while it is still being opened here.
    const release = messages.some(isRequest) ? instance.arriving(sessionId) : undefined;
    try {
      const opened = await open(sessionId, caller);
      if (opened instanceof Response) return opened;
      const { session } = opened;
      if (batch && session.protocolVersion >= FIRST_VERSION_WITHOUT_BATCHES) {
        return jsonRpcError(
          400,
          JsonRpcCode.InvalidRequest,
          `Invalid Request: JSON-RPC batches are not allowed in protocol ${session.protocolVersion}`,
        );
      }

      const rest = await instance.route(sessionId, messages);
      const requests = rest.filter(isRequest);
      if (requests.length === 0) return new Response(null, { status: 202 });
      return await instance.serve(
        request,
        opened,
        caller,
        batch ? rest : rest[0]!,
        requests.map((r) => r.id),
        waitUntil,
      );
    } finally {
      release?.();
    }
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
    const { id, response } = await instance.initialize(request, message, negotiated, caller);
    response.headers.set(SESSION_HEADER, id);
    return response;
  }

  async function get(request: Request, sessionId: string | null, caller: Caller): Promise<Response> {
    if (sessionId === null) return jsonRpcError(400, JsonRpcCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
    if (!(request.headers.get('accept') ?? '').includes('text/event-stream')) {
      return jsonRpcError(406, JsonRpcCode.ServerError, 'Not Acceptable: Accept must list text/event-stream');
    }
    const lastEventId = request.headers.get('last-event-id');
    const cursor = lastEventId === null ? undefined : decodeCursor(lastEventId);
    if (lastEventId !== null && !cursor) {
      return jsonRpcError(400, JsonRpcCode.ServerError, 'Bad Request: Last-Event-ID is not an event id this server gave out');
    }
    // Listening before the session is opened: what is published meanwhile reaches the stream.
    const early = instance.streams.listen(sessionId, cursor);
    let opened: Opened | Response;
    try {
      opened = await open(sessionId, caller);
    } catch (error) {
      early.release();
      throw error;
    }
    if (opened instanceof Response) {
      early.release();
      return opened;
    }
    // Served by whichever instance the request reached: what it carries comes through the channel
    // (and a call handed over in a drain goes on here, see ./handover.ts).
    return instance.openStream(opened, caller, cursor, early);
  }

  async function remove(sessionId: string | null, caller: Caller): Promise<Response> {
    if (sessionId === null) return jsonRpcError(400, JsonRpcCode.ServerError, 'Bad Request: Mcp-Session-Id header is required');
    const result = await store.remove(sessionId, caller.credentialHash);
    if (result === 'not_found') return notFound();
    if (result === 'forbidden') return forbidden();
    await instance.endSession(sessionId);
    logger.info('session deleted', { session: sessionId.slice(0, 8) });
    return new Response(null, { status: 200 });
  }

  async function open(sessionId: string, caller: Caller): Promise<Opened | Response> {
    const result = await store.open(sessionId, caller.credentialHash);
    if (result.status === 'not_found') return notFound();
    if (result.status === 'forbidden') return forbidden();
    return result;
  }
}

/**
 * The JSON-RPC 2.0 message shapes, checked by hand: this runs on every request before the store
 * is asked, and the POST's transport (./post-transport.ts) validates the SDK's full schema afterwards.
 */
export function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
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
  return refusedBecause('session_unknown', jsonRpcError(404, JsonRpcCode.SessionNotFound, 'Session not found'));
}

function forbidden(): Response {
  return refusedBecause(
    'session_credential',
    jsonRpcError(403, JsonRpcCode.ServerError, 'Forbidden: this session belongs to another credential'),
  );
}
