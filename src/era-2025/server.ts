// Builds the MCP server (SDK v1, the 2025 protocol era) that serves the requests of one session.
// It is cheap by design: the method table is made once per registry (`createDispatcher`), so a
// server costs one SDK Server object whose only per-session facts are the negotiated client
// capabilities (restored by the caller) and the session's state.
//
// The methods themselves are the era-neutral ones of ../core/calls.ts. What is particular to this era
// lives here: session state for the logging level and subscriptions, and the fulfilment of input
// requests. A handler asks for input by returning InputRequired; a 2025 client has no such result,
// so this layer sends the embedded requests to the client as real elicitation, sampling and roots
// requests on the request's stream, then runs the handler again with the answers.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker-provider.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  LoggingLevelSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolRequest,
  type ElicitRequestParams,
  type JSONRPCRequest,
  type LoggingLevel,
  type ServerNotification,
  type ServerRequest,
  type ServerResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { z } from 'zod';
import { type HandlerContext, type InputRequests, type InputRequired, type InputResponses, isInputRequired } from '../core/define.js';
import type { Principal } from '../auth/caller.js';
import type { SessionState } from '../core/session-state.js';
import { callTool, complete, FaultCode, getPrompt, ProtocolFault, progressNotification, readResource } from '../core/calls.js';
import type { Registry } from '../core/registry.js';
import type { ChangeNotifier } from '../store/channel/types.js';
import { STATE_KEYS } from './state-keys.js';

/** Rounds of input one call may ask for before it is stopped (a handler that never completes). */
export const MAX_INPUT_ROUNDS = 10;

const LEVELS = LoggingLevelSchema.options;

// Validates elicitation answers against the requested schema. The cfworker validator interprets
// schemas instead of compiling code (Workers forbid code generation); one instance serves all.
const sharedValidator = new CfWorkerJsonSchemaValidator();

export interface RequestScope {
  sessionId: string;
  session: SessionState;
  principal: Principal | undefined;
  /** Ends the request's event stream early, when the session can resume it (see src/era-2025/streams.ts). */
  closeStream?: () => void;
  /** Announces changes on every instance. */
  changes: ChangeNotifier;
  /**
   * Where the request's tools/call stands, kept for a hand-over in a drain (./handover.ts); set
   * by the owner of a request that may be handed over. Its `round`, when set before the call
   * starts, is the round a handed-over call continues in.
   */
  call?: CallProgress;
}

/** The input round a call waits in: what it asked, with which state, and what was answered. */
export interface InputRound {
  requests: InputRequests;
  requestState: unknown;
  /** The answers received so far, by key. */
  answers: InputResponses;
  /** The key of the request sent and not answered yet. */
  asking: string | undefined;
}

/** A tools/call as far as it went: enough for another instance to go on with it. */
export interface CallProgress {
  params: CallToolRequest['params'] | undefined;
  round: InputRound | undefined;
  /** Told each time the call sent the client a request and waits for its reply. */
  onAsk?: () => void;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** What a method handler gets: the validated request, the SDK's extras, the request's scope. */
interface Call<R> {
  request: R;
  extra: Extra;
  scope: RequestScope;
  server: Server;
  context(): HandlerContext;
}

interface Method<S extends z.ZodType = z.ZodType> {
  schema: S;
  handle(call: Call<z.infer<S>>): ServerResult | Promise<ServerResult>;
}

export type Dispatcher = (request: JSONRPCRequest, extra: Extra, scope: RequestScope, server: Server) => Promise<ServerResult>;

const method = <S extends z.ZodType>(schema: S, handle: Method<S>['handle']): Method => ({ schema, handle: handle as Method['handle'] });

export interface DispatcherOptions {
  /** Resources one session may be subscribed to at once; unset or 0: no limit. */
  maxSubscriptions?: number;
}

/**
 * The method table for a registry, built once. Prompts and resources exist only when some
 * toolset provides them, matching the capabilities the server declares.
 */
export function createDispatcher(registry: Registry, options: DispatcherOptions = {}): Dispatcher {
  const methods = new Map<string, Method>([
    ['tools/list', method(ListToolsRequestSchema, () => ({ tools: registry.toolList }))],
    [
      'tools/call',
      method(CallToolRequestSchema, ({ request, server, extra, context, scope }) => {
        if (scope.call) scope.call.params = request.params;
        return withInput(server, extra, context(), (ctx) => callTool(registry, request.params, ctx), scope.call);
      }),
    ],
    // The SDK keeps the level in process memory; here it is session state, so it survives restarts.
    [
      'logging/setLevel',
      method(SetLevelRequestSchema, ({ request, scope }) => {
        scope.session.set(STATE_KEYS.loggingLevel, request.params.level);
        return {};
      }),
    ],
    ['completion/complete', method(CompleteRequestSchema, ({ request }) => complete(registry, request.params))],
  ]);
  if (registry.capabilities.prompts) {
    methods.set(
      'prompts/list',
      method(ListPromptsRequestSchema, () => ({ prompts: registry.promptList })),
    );
    methods.set(
      'prompts/get',
      method(GetPromptRequestSchema, ({ request, server, extra, context }) =>
        withInput(server, extra, context(), (ctx) => getPrompt(registry, request.params, ctx)),
      ),
    );
  }
  if (registry.capabilities.resources) {
    methods.set(
      'resources/list',
      method(ListResourcesRequestSchema, () => ({ resources: registry.resourceList })),
    );
    methods.set(
      'resources/templates/list',
      method(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: registry.templateList })),
    );
    methods.set(
      'resources/read',
      method(ReadResourceRequestSchema, ({ request, server, extra, context }) =>
        withInput(server, extra, context(), (ctx) => readResource(registry, request.params.uri, ctx)),
      ),
    );
    methods.set(
      'resources/subscribe',
      method(SubscribeRequestSchema, ({ request, scope }) => {
        subscribe(registry, scope.session, request.params.uri, options.maxSubscriptions);
        return {};
      }),
    );
    methods.set(
      'resources/unsubscribe',
      method(UnsubscribeRequestSchema, ({ request, scope }) => {
        scope.session.delete(STATE_KEYS.subscriptionPrefix + request.params.uri);
        return {};
      }),
    );
  }

  return async (request, extra, scope, server) => {
    const entry = methods.get(request.method);
    if (!entry) throw new ProtocolFault(FaultCode.MethodNotFound, `Method not found: ${request.method}`);
    const parsed = entry.schema.safeParse(request);
    if (!parsed.success) throw new ProtocolFault(FaultCode.InvalidParams, `Invalid ${request.method} request: ${parsed.error.message}`);
    return entry.handle({ request: parsed.data, extra, scope, server, context: () => handlerContext(server, scope, extra) });
  };
}

/**
 * Records a subscription in session state, which every later request of the session loads: only
 * to what this server serves, and only so many.
 */
function subscribe(registry: Registry, session: SessionState, uri: string, max: number | undefined): void {
  const key = STATE_KEYS.subscriptionPrefix + uri;
  // A URI may be megabytes long: messages name its start only.
  const named = uri.length > 200 ? `${uri.slice(0, 200)}...` : uri;
  if (!registry.resources.has(uri) && !registry.matchTemplate(uri)) {
    throw new ProtocolFault(
      FaultCode.InvalidParams,
      `Cannot subscribe to ${named}: no resource or resource template of this server matches it`,
    );
  }
  if (session.has(key)) return;
  if (max && session.entries(STATE_KEYS.subscriptionPrefix).length >= max) {
    throw new ProtocolFault(
      FaultCode.InvalidParams,
      `Cannot subscribe to ${named}: this session is subscribed to ${max} resources already, the most it may be (sessions.max_subscriptions); unsubscribe from one first`,
    );
  }
  session.set(key, true);
}

/**
 * Runs a method that may ask for input until it answers: each InputRequired round's requests go
 * to the client as real requests, one after the other (clients show one form at a time), and
 * the method runs again with this round's answers and the state it returned. The state never
 * leaves the process here, so it needs no signature. With `call`, where the call stands is kept
 * there as it goes; a round already in it (a handed-over call) is continued before the handler
 * runs again.
 */
async function withInput<R>(
  server: Server,
  extra: Extra,
  base: HandlerContext,
  run: (ctx: HandlerContext) => Promise<R | InputRequired>,
  call?: CallProgress,
) {
  let ctx = base;
  let resumed = call?.round;
  for (let round = 0; ; round++) {
    const output: R | InputRequired = resumed
      ? { resultType: 'input_required', inputRequests: resumed.requests, requestState: resumed.requestState }
      : await run(ctx);
    if (!isInputRequired(output)) return output as R & ServerResult;
    if (round === MAX_INPUT_ROUNDS) {
      throw new ProtocolFault(
        FaultCode.InternalError,
        `The handler asked for input more than ${MAX_INPUT_ROUNDS} times; the call was stopped.`,
      );
    }
    const current: InputRound = resumed ?? {
      requests: output.inputRequests ?? {},
      requestState: output.requestState,
      answers: {},
      asking: undefined,
    };
    resumed = undefined;
    if (call) call.round = current;
    const answers = output.inputRequests === undefined ? undefined : await ask(server, extra, current, call?.onAsk);
    ctx = { ...base, inputResponses: answers, requestState: output.requestState };
  }
}

/** Asks the round's requests not answered yet, one after the other; the answers gather in the round. */
async function ask(server: Server, extra: Extra, round: InputRound, onAsk: (() => void) | undefined): Promise<InputResponses> {
  // No abort signal here: on Workers the reply arrives in another request's context, which may
  // not touch the I/O objects (an AbortSignal among them) of the request that asked.
  const options = { relatedRequestId: extra.requestId };
  for (const [key, request] of Object.entries(round.requests)) {
    if (key in round.answers) continue;
    let reply: Promise<unknown>;
    switch (request.method) {
      case 'elicitation/create': {
        const params = request.params as ElicitRequestParams;
        // A URL elicitation of the 2025 era names itself, so that its completion can be told apart.
        const sent = params.mode === 'url' && !params.elicitationId ? { ...params, elicitationId: crypto.randomUUID() } : params;
        reply = server.elicitInput(sent, options);
        break;
      }
      case 'sampling/createMessage':
        reply = server.createMessage(request.params as Parameters<Server['createMessage']>[0], options);
        break;
      case 'roots/list':
        reply = server.listRoots(undefined, options);
        break;
      default:
        throw new ProtocolFault(
          FaultCode.InternalError,
          `Unknown input request "${(request as { method: string }).method}" (key "${key}")`,
        );
    }
    round.asking = key;
    onAsk?.();
    round.answers[key] = (await reply) as InputResponses[string];
    round.asking = undefined;
  }
  return round.answers;
}

/**
 * A server for one session, built without knowing any request: methods the SDK's Server answers
 * itself (initialize, ping) stay its own; every other request goes through the registry's
 * dispatcher, with the scope `serveScope` gives it for the request at hand.
 */
export function buildServer(registry: Pick<Registry, 'capabilities' | 'serverInfo'>): Server {
  // `logging` is left out of the constructor's capabilities: the SDK would install its own
  // in-memory logging/setLevel handler, and ours (session state) must answer instead.
  const { logging: _logging, ...rest } = registry.capabilities;
  const server = new Server(registry.serverInfo, { capabilities: rest, jsonSchemaValidator: sharedValidator });
  server.registerCapabilities({ logging: {} });
  return server;
}

/** Points the server's methods at the request being served: its session state and caller. */
export function serveScope(server: Server, dispatch: Dispatcher, scope: RequestScope): void {
  server.fallbackRequestHandler = (request, extra) => dispatch(request, extra as Extra, scope, server);
}

function handlerContext(server: Server, scope: RequestScope, extra: Extra): HandlerContext {
  return {
    era: 'session',
    sessionId: scope.sessionId,
    session: scope.session,
    principal: scope.principal,
    clientCapabilities: server.getClientCapabilities(),
    clientInfo: server.getClientVersion(),
    signal: extra.signal,
    inputResponses: undefined,
    requestState: undefined,
    async log(level, data, logger) {
      const threshold = scope.session.get<LoggingLevel>(STATE_KEYS.loggingLevel);
      if (threshold && LEVELS.indexOf(level) < LEVELS.indexOf(threshold)) return;
      await extra.sendNotification({ method: 'notifications/message', params: { level, data, ...(logger && { logger }) } });
    },
    async progress(progress, total, message) {
      const notification = progressNotification(extra._meta?.progressToken, progress, total, message);
      if (notification) await extra.sendNotification(notification);
    },
    notify: (notification) => extra.sendNotification(notification),
    closeStream: scope.closeStream,
    changes: scope.changes,
  };
}
